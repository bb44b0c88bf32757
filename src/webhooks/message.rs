//! The messages an endpoint receives: one per change (`webhook-id` `chg_<seq>`, the same on
//! every attempt, so a receiver can deduplicate), or with batching one per run of up to
//! `batch_size` changes (`webhook-id` `chgs_<first seq>_<last seq>`). The body is the
//! specification's `{"type", "timestamp", "data"}`: for one change, its type, the time it
//! committed and the change itself; for a batch, type `batch` and `{"changes": [...]}`.

use serde_json::{json, Value};

use crate::store::changes::ChangeRow;

/// One message, ready to sign.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub body: Vec<u8>,
    pub first_seq: i64,
    pub last_seq: i64,
}

/// The `webhook-id` of the change `seq`.
pub fn id_of(seq: i64) -> String {
    format!("chg_{seq}")
}

/// The message for one change, or for several as a batch.
pub fn of(changes: &[ChangeRow]) -> Option<Message> {
    let (first, last) = (changes.first()?, changes.last()?);
    let (id, body) = if changes.len() == 1 {
        let body = json!({
            "type": first.change_type,
            "timestamp": crate::store::changes::time_text(first.occurred_at),
            "data": first.to_json(),
        });
        (id_of(first.seq), body)
    } else {
        let all: Vec<Value> = changes.iter().map(ChangeRow::to_json).collect();
        let body = json!({
            "type": "batch",
            "timestamp": crate::store::changes::time_text(last.occurred_at),
            "data": { "changes": all },
        });
        (format!("chgs_{}_{}", first.seq, last.seq), body)
    };
    Some(Message {
        id,
        body: body.to_string().into_bytes(),
        first_seq: first.seq,
        last_seq: last.seq,
    })
}
