//! What a tool result looks like to REST callers, and how oversized results are cut.
//!
//! Pure functions over rmcp's `CallToolResult`: the payload of SPEC §13 (`result`), the text
//! a broadcast summary shows for a result, and truncation at `limits.max_response_bytes`.

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::Value;

/// The tool's payload, as REST callers get it in `result` (SPEC §13): `structuredContent`
/// when the backend gave one; else, when every content item is text and the joined text
/// parses as JSON, that JSON; else the joined text as a string.
pub fn payload(result: &CallToolResult) -> Value {
    if let Some(structured) = &result.structured_content {
        return structured.clone();
    }
    let texts: Option<Vec<&str>> = result
        .content
        .iter()
        .map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect();
    match texts {
        Some(texts) => {
            let joined = texts.join("\n");
            serde_json::from_str(&joined).unwrap_or(Value::String(joined))
        }
        None => Value::String(display_text(result)),
    }
}

/// The result as text for a broadcast summary (SPEC §13): text items joined with `\n`, other
/// items as `[<type> content]`, a structured-only result as compact JSON.
pub fn display_text(result: &CallToolResult) -> String {
    if result.content.is_empty()
        && let Some(structured) = &result.structured_content
    {
        return structured.to_string();
    }
    result
        .content
        .iter()
        .map(|item| match item.as_text() {
            Some(text) => text.text.clone(),
            None => format!("[{} content]", content_type(item)),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `type` of a content item as it appears on the wire.
fn content_type(item: &ContentBlock) -> String {
    serde_json::to_value(item)
        .ok()
        .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The serialized size of a result, as the client would receive it.
pub fn wire_size(result: &CallToolResult) -> usize {
    serde_json::to_vec(result).map(|v| v.len()).unwrap_or(0)
}

/// How the last item of a cut result begins.
pub const TRUNCATION_MARK: &str = "[truncated: ";

/// Cut a result to at most `limit` bytes of content (SPEC §12): items are kept while they fit,
/// the first one that does not is cut (text) or dropped (anything else), the rest dropped, and
/// a last text item says how many bytes were dropped. Returns whether anything was cut.
pub fn truncate(result: &mut CallToolResult, limit: usize) -> bool {
    let total = wire_size(result);
    if total <= limit {
        return false;
    }
    // Structured content duplicates the text in most results; it goes first.
    let mut dropped = 0usize;
    if let Some(structured) = result.structured_content.take() {
        dropped += structured.to_string().len();
    }
    let mut budget = limit;
    let mut kept = Vec::new();
    for item in std::mem::take(&mut result.content) {
        let size = serde_json::to_vec(&item).map(|v| v.len()).unwrap_or(0);
        if size <= budget {
            budget -= size;
            kept.push(item);
            continue;
        }
        match item.as_text() {
            Some(text) if budget > 64 => {
                let keep = floor_char_boundary(&text.text, budget - 64);
                dropped += text.text.len() - keep;
                kept.push(ContentBlock::text(text.text[..keep].to_owned()));
                budget = 0;
            }
            _ => dropped += size,
        }
    }
    result.content = kept;
    result.content.push(ContentBlock::text(format!(
        "{TRUNCATION_MARK}{dropped} bytes dropped; the result was larger than limits.max_response_bytes = {limit}]"
    )));
    true
}

/// The largest index ≤ `at` that is a char boundary of `s` (never splits a UTF-8 sequence).
fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The most characters of a failed tool's text that its audit record keeps (SPEC §14).
pub const MAX_ERROR_CHARS: usize = 1024;

/// The audit `error` of a tool that ran and failed (`isError: true`): its text items joined
/// with `\n` (the summary text when it has none), cut to [`MAX_ERROR_CHARS`] characters.
/// `None` for a result that did not fail.
pub fn error_text(result: &CallToolResult) -> Option<String> {
    if result.is_error != Some(true) {
        return None;
    }
    let texts: Vec<&str> = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect();
    let text = if texts.is_empty() {
        display_text(result)
    } else {
        texts.join("\n")
    };
    Some(match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text_result(texts: &[&str]) -> CallToolResult {
        CallToolResult::success(texts.iter().map(|t| ContentBlock::text(*t)).collect())
    }

    #[test]
    fn payload_prefers_structured_content() {
        let mut result = text_result(&["{\"a\":1}"]);
        result.structured_content = Some(json!({"b": 2}));
        assert_eq!(payload(&result), json!({"b": 2}));
    }

    #[test]
    fn payload_parses_joined_json_text() {
        assert_eq!(payload(&text_result(&["{\"a\":", "1}"])), json!({"a": 1}));
        assert_eq!(payload(&text_result(&["42"])), json!(42));
    }

    #[test]
    fn payload_falls_back_to_the_joined_text() {
        assert_eq!(
            payload(&text_result(&["hello", "world"])),
            json!("hello\nworld")
        );
        assert_eq!(payload(&text_result(&[])), json!(""));
    }

    #[test]
    fn payload_of_mixed_content_is_display_text() {
        let mut result = text_result(&["see image"]);
        result
            .content
            .push(ContentBlock::image("aGVsbG8=", "image/png"));
        assert_eq!(payload(&result), json!("see image\n[image content]"));
    }

    #[test]
    fn display_text_of_structured_only_is_compact_json() {
        let mut result = CallToolResult::success(vec![]);
        result.structured_content = Some(json!({"ok": true, "n": [1, 2]}));
        assert_eq!(display_text(&result), r#"{"n":[1,2],"ok":true}"#);
    }

    #[test]
    fn small_results_are_not_truncated() {
        let mut result = text_result(&["small"]);
        let before = result.clone();
        assert!(!truncate(&mut result, 1024));
        assert_eq!(result, before);
    }

    #[test]
    fn large_results_are_cut_with_a_last_item_saying_how_much() {
        let big = "x".repeat(10_000);
        let mut result = text_result(&["head", &big, "tail"]);
        assert!(truncate(&mut result, 2_000));
        assert!(wire_size(&result) < 2_400, "{}", wire_size(&result));
        let last = result
            .content
            .last()
            .and_then(|c| c.as_text())
            .expect("note");
        assert!(last.text.starts_with("[truncated: "), "{}", last.text);
        assert!(last.text.contains("bytes dropped"));
        assert_eq!(
            result.content[0].as_text().map(|t| t.text.as_str()),
            Some("head")
        );
        // "tail" did not fit after the cut item and is gone.
        assert!(
            !result
                .content
                .iter()
                .any(|c| c.as_text().is_some_and(|t| t.text == "tail"))
        );
    }

    #[test]
    fn truncation_never_splits_a_character() {
        let mut result = text_result(&[&"é".repeat(5_000)]);
        assert!(truncate(&mut result, 1_001));
        let first = result.content[0].as_text().expect("text");
        assert!(first.text.chars().all(|c| c == 'é'));
    }

    #[test]
    fn structured_content_is_dropped_first() {
        let mut result = text_result(&["short"]);
        result.structured_content = Some(json!({"blob": "y".repeat(5_000)}));
        assert!(truncate(&mut result, 1_000));
        assert!(result.structured_content.is_none());
        assert_eq!(
            result.content[0].as_text().map(|t| t.text.as_str()),
            Some("short")
        );
    }

    #[test]
    fn error_text_is_the_failed_tools_text_cut_to_1024_characters() {
        let ok = CallToolResult::success(vec![ContentBlock::text("fine")]);
        assert_eq!(error_text(&ok), None);
        let failed = CallToolResult::error(vec![
            ContentBlock::text("disk full"),
            ContentBlock::image("AAAA", "image/png"),
            ContentBlock::text("on /var"),
        ]);
        assert_eq!(error_text(&failed).as_deref(), Some("disk full\non /var"));
        let no_text = CallToolResult::error(vec![ContentBlock::image("AAAA", "image/png")]);
        assert_eq!(error_text(&no_text).as_deref(), Some("[image content]"));
        // Characters, not bytes: a multi-byte character is never split.
        let long = CallToolResult::error(vec![ContentBlock::text("é".repeat(2000))]);
        let cut = error_text(&long).expect("an error");
        assert_eq!(cut.chars().count(), MAX_ERROR_CHARS);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
