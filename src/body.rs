//! Bounded reads of body streams, straight on the JavaScript stream reader (no Rust
//! stream adapters: they cost bundle bytes and CPU for nothing here).

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStream, ReadableStreamDefaultReader};

/// The first bytes of a stream: all of it when `complete`, else at least `limit + 1`.
pub struct Prefix {
    /// What was read.
    pub bytes: Vec<u8>,
    /// Whether the stream ended within `limit` bytes.
    pub complete: bool,
}

/// [`read_prefix`] that also stops (cancelling the stream) as soon as `stop` says so of
/// what was read (`Prefix.complete` false then); `stop` keeps its own place in the bytes.
pub async fn read_until(
    stream: &ReadableStream,
    limit: usize,
    mut stop: impl FnMut(&[u8]) -> bool,
) -> Result<(Prefix, bool), String> {
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let field = |object: &JsValue, name: &str| Reflect::get(object, &JsValue::from_str(name));
    let mut bytes = Vec::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|e| format!("body read failed: {e:?}"))?;
        let done = field(&chunk, "done").ok().and_then(|d| d.as_bool()).unwrap_or(true);
        if done {
            reader.release_lock();
            return Ok((Prefix { bytes, complete: true }, false));
        }
        let value = field(&chunk, "value").map_err(|e| format!("body chunk unreadable: {e:?}"))?;
        let value: Uint8Array = value.dyn_into().map_err(|_| "body chunk is not bytes".to_string())?;
        bytes.extend_from_slice(&value.to_vec());
        let stopped = stop(&bytes);
        if stopped || bytes.len() > limit {
            let _ = reader.cancel();
            return Ok((Prefix { bytes, complete: false }, stopped));
        }
    }
}

/// Reads `stream` until it ends or more than `limit` bytes were read, then lets go of it
/// (a stream read past the limit is cancelled: it is not used again).
pub async fn read_prefix(stream: &ReadableStream, limit: usize) -> Result<Prefix, String> {
    read_until(stream, limit, |_| false).await.map(|(prefix, _)| prefix)
}
