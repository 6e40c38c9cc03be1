//! What a tampered device can push: change bytes, raw or made by mutating real changes (with their
//! checksum repaired, so the mutations reach automerge's decoder and the write rules instead of
//! stopping at the checksum), against a real case on the server protocol. The server must never
//! panic, and whatever it accepts must leave every earlier event, photo and fact of the case as it was.
#![no_main]

use gridpatrol_fuzz::{Input, World};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static WORLD: LazyLock<World> = LazyLock::new(|| {
    // libfuzzer-sys's panic hook aborts on every panic, even one the server catches and turns into a
    // refusal (automerge can panic on hostile bytes; see `untrusted` in core/src/sync/server.rs). The
    // default hook only prints: a panic that escapes the target still fails the run, since
    // libfuzzer-sys aborts on a panic that unwinds out of it.
    let _ = std::panic::take_hook();
    World::new()
});

fuzz_target!(|input: Input| {
    WORLD.check(&input);
});
