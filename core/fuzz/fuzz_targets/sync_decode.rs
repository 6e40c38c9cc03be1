//! The sync envelope a device (or anyone with a token) sends: decoding arbitrary bytes never panics,
//! never allocates beyond the message, and what decodes re-encodes to something that decodes the same.
#![no_main]

use gridpatrol_core::sync::{SyncRequest, SyncResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = SyncRequest::decode(data) {
        let again = SyncRequest::decode(&request.encode()).expect("a re-encoded request decodes");
        assert_eq!(again, request);
    }
    if let Ok(response) = SyncResponse::decode(data) {
        let again =
            SyncResponse::decode(&response.encode()).expect("a re-encoded response decodes");
        assert_eq!(again, response);
    }
});
