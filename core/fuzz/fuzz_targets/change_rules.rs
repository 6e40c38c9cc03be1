//! The fast half of the change validator, for volume: change bytes (raw, or real changes mutated with
//! their checksum repaired) through the server's preparation (preflight, automerge's change decoder,
//! the actor binding) and the operation-by-operation shape rules against a real case, without the
//! merge. `change_validator` takes the same inputs all the way through the merge, for depth.
#![no_main]

use gridpatrol_fuzz::{Input, World};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static WORLD: LazyLock<World> = LazyLock::new(|| {
    // As in change_validator: a panic the server catches (`untrusted`) is a refusal, not a finding;
    // one that unwinds out of the target (the shape rules run here without that guard) still fails.
    let _ = std::panic::take_hook();
    World::new()
});

fuzz_target!(|input: Input| {
    WORLD.check_rules(&input);
});
