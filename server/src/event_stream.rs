//! An incremental parser of `text/event-stream` bodies (backends' answers and SSE streams,
//! and the gateway's own streams in tests), as the WHATWG HTML standard defines
//! them (section "Server-sent events"): lines end with CRLF, LF or CR; a blank line
//! dispatches the event; `data:` lines join with `\n`; lines starting with `:` are comments;
//! a leading byte-order mark is skipped. Chunks may split lines and line endings anywhere.
//!
//! Memory is bounded: the unread part of the body plus the data of the event being built may
//! not exceed the limit given at construction.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field, `message` when the event had none.
    pub(crate) event: String,
    /// The `data:` lines joined with `\n`.
    pub(crate) data: String,
}

/// The body sent more than the parser may hold for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EventTooLarge;

const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug)]
pub(crate) struct SseParser {
    /// Bytes received and not yet split into lines; `start` is where the unread part begins.
    buffer: Vec<u8>,
    start: usize,
    /// The previous line ended with CR: an LF right after it belongs to the same line end,
    /// even when it arrives in the next chunk.
    skip_lf: bool,
    /// Whether the start of the stream was checked for a byte-order mark.
    bom_checked: bool,
    max_event_bytes: usize,
    /// Apart from `buffer`, so that a line can be read in place from the buffer while the
    /// event is built.
    fields: Fields,
}

/// What the lines read so far say: the event being built, and the stream's settings.
#[derive(Debug, Default)]
struct Fields {
    event_type: String,
    data: String,
    /// The last `id:` field seen (the standard's "last event ID buffer"); empty when none.
    last_event_id: String,
    /// The last valid `retry:` field, in milliseconds.
    retry_ms: Option<u64>,
}

impl SseParser {
    pub(crate) fn new(max_event_bytes: usize) -> Self {
        Self {
            buffer: Vec::new(),
            start: 0,
            skip_lf: false,
            bom_checked: false,
            max_event_bytes,
            fields: Fields::default(),
        }
    }

    /// The id of the last event with one, for `Last-Event-ID` when resuming a stream.
    pub(crate) fn last_event_id(&self) -> Option<&str> {
        let id = &self.fields.last_event_id;
        (!id.is_empty()).then_some(id.as_str())
    }

    /// Carry the last event id over to the stream that resumes this one.
    pub(crate) fn set_last_event_id(&mut self, id: &str) {
        id.clone_into(&mut self.fields.last_event_id);
    }

    /// How long the server asked clients to wait before reconnecting.
    pub(crate) fn retry(&self) -> Option<std::time::Duration> {
        self.fields.retry_ms.map(std::time::Duration::from_millis)
    }

    /// Adds a chunk of the body. Call [`Self::next_event`] until it gives `None` before
    /// pushing the next chunk, so that only an unfinished line and event are held.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<(), EventTooLarge> {
        self.buffer.drain(..self.start);
        self.start = 0;
        let held = self.buffer.len() + self.fields.data.len() + self.fields.event_type.len();
        if held.saturating_add(chunk.len()) > self.max_event_bytes {
            return Err(EventTooLarge);
        }
        self.buffer.extend_from_slice(chunk);
        Ok(())
    }

    /// The next complete event in what was pushed so far.
    pub(crate) fn next_event(&mut self) -> Option<SseEvent> {
        if !self.bom_checked {
            let unread = &self.buffer[self.start..];
            if unread.len() < BOM.len() && BOM.starts_with(unread) {
                // Not enough bytes yet to tell a byte-order mark from content.
                return None;
            }
            if unread.starts_with(BOM) {
                self.start += BOM.len();
            }
            self.bom_checked = true;
        }
        loop {
            if self.skip_lf {
                match self.buffer.get(self.start) {
                    None => return None,
                    Some(b'\n') => {
                        self.start += 1;
                        self.skip_lf = false;
                    }
                    Some(_) => self.skip_lf = false,
                }
            }
            let unread = &self.buffer[self.start..];
            let end = unread.iter().position(|&b| b == b'\n' || b == b'\r')?;
            let ended_with_cr = unread[end] == b'\r';
            let line_start = self.start;
            self.start += end + 1;
            self.skip_lf = ended_with_cr;
            // Lines split on ASCII CR/LF, which never occur inside a multi-byte UTF-8
            // sequence, so decoding line by line is exact for valid input.
            // Borrowed from the buffer unless the line is not valid UTF-8.
            let line = String::from_utf8_lossy(&self.buffer[line_start..line_start + end]);
            if let Some(event) = self.fields.process_line(&line) {
                return Some(event);
            }
        }
    }
}

impl Fields {
    fn process_line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event_type),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            // Only for resuming a stream (the 2024-11-05 transport never does: a new
            // connection is a new session there).
            "id" if !value.contains('\0') => value.clone_into(&mut self.last_event_id),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry_ms = value.parse().ok();
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event_type = std::mem::take(&mut self.event_type);
        if self.data.is_empty() {
            return None;
        }
        let mut data = std::mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        let event = if event_type.is_empty() {
            "message".to_owned()
        } else {
            event_type
        };
        Some(SseEvent { event, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::new(1 << 20);
        let mut events = Vec::new();
        for chunk in chunks {
            parser.push(chunk).expect("within limit");
            while let Some(event) = parser.next_event() {
                events.push(event);
            }
        }
        events
    }

    fn event(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.to_owned(),
            data: data.to_owned(),
        }
    }

    #[test]
    fn endpoint_then_message() {
        let body = b"event: endpoint\ndata: /messages?sessionId=abc\n\nevent: message\ndata: {\"a\":1}\n\n";
        assert_eq!(
            parse_all(&[body]),
            vec![
                event("endpoint", "/messages?sessionId=abc"),
                event("message", "{\"a\":1}")
            ]
        );
    }

    #[test]
    fn event_type_defaults_to_message_and_resets_after_dispatch() {
        let body = b"event: endpoint\ndata: /x\n\ndata: y\n\n";
        assert_eq!(
            parse_all(&[body]),
            vec![event("endpoint", "/x"), event("message", "y")]
        );
    }

    #[test]
    fn multi_line_data_joins_with_newline() {
        let body = b"data: first\ndata: second\ndata:third\n\n";
        assert_eq!(
            parse_all(&[body]),
            vec![event("message", "first\nsecond\nthird")]
        );
    }

    #[test]
    fn comments_and_unknown_fields_are_ignored() {
        let body = b": keep-alive\n\n:\n\nid: 7\nretry: 1000\nfoo: bar\ndata: x\n\n";
        assert_eq!(parse_all(&[body]), vec![event("message", "x")]);
    }

    #[test]
    fn crlf_and_lone_cr_end_lines() {
        assert_eq!(
            parse_all(&[b"event: a\r\ndata: 1\r\n\r\n"]),
            vec![event("a", "1")]
        );
        assert_eq!(
            parse_all(&[b"event: b\rdata: 2\r\r"]),
            vec![event("b", "2")]
        );
    }

    #[test]
    fn cr_at_chunk_end_followed_by_lf_is_one_line_end() {
        // Were the LF taken as a second line end, it would be a blank line and dispatch early.
        let events = parse_all(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]);
        assert_eq!(events, vec![event("message", "a\nb")]);
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let body: &[u8] = b"\xEF\xBB\xBFevent: endpoint\r\ndata: /m?s=1\r\n\r\n: ping\r\n\r\nevent: message\ndata: {\"k\":\"\xC3\xA9\"}\ndata: more\r\n\r\n";
        let expected = vec![
            event("endpoint", "/m?s=1"),
            event("message", "{\"k\":\"é\"}\nmore"),
        ];
        assert_eq!(parse_all(&[body]), expected);
        for split in 0..=body.len() {
            let (a, b) = body.split_at(split);
            assert_eq!(parse_all(&[a, b]), expected, "split at {split}");
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(parse_all(&bytes), expected);
    }

    #[test]
    fn field_without_colon_and_value_without_space() {
        // `data` alone appends an empty line; `data:x` keeps the value without a space.
        assert_eq!(
            parse_all(&[b"data\ndata:x\n\n"]),
            vec![event("message", "\nx")]
        );
        // Only one leading space is removed.
        assert_eq!(
            parse_all(&[b"data:  two\n\n"]),
            vec![event("message", " two")]
        );
    }

    #[test]
    fn blank_line_without_data_dispatches_nothing() {
        assert_eq!(parse_all(&[b"event: endpoint\n\n\n\n"]), vec![]);
        // The event type of an empty event does not leak into the next one.
        assert_eq!(
            parse_all(&[b"event: endpoint\n\ndata: z\n\n"]),
            vec![event("message", "z")]
        );
    }

    #[test]
    fn empty_data_field_still_dispatches() {
        assert_eq!(parse_all(&[b"data:\n\n"]), vec![event("message", "")]);
    }

    #[test]
    fn unfinished_event_is_held_until_its_blank_line() {
        let mut parser = SseParser::new(1024);
        parser.push(b"data: part").expect("within limit");
        assert_eq!(parser.next_event(), None);
        parser.push(b"ial\n").expect("within limit");
        assert_eq!(parser.next_event(), None);
        parser.push(b"\n").expect("within limit");
        assert_eq!(parser.next_event(), Some(event("message", "partial")));
        assert_eq!(parser.next_event(), None);
    }

    #[test]
    fn bom_only_at_stream_start() {
        assert_eq!(
            parse_all(&[b"\xEF\xBB", b"\xBFdata: a\n\n"]),
            vec![event("message", "a")]
        );
        // A BOM later in the stream is content, not skipped.
        let events = parse_all(&[b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"]);
        assert_eq!(events[0], event("message", "a"));
        assert_eq!(
            events.len(),
            1,
            "a field named BOM+data is unknown and ignored"
        );
    }

    #[test]
    fn oversized_event_is_refused() {
        let mut parser = SseParser::new(16);
        parser.push(b"data: 0123456").expect("13 bytes fit");
        assert_eq!(parser.next_event(), None);
        assert_eq!(parser.push(b"789abcdef"), Err(EventTooLarge));
    }

    #[test]
    fn data_of_an_unfinished_event_counts_against_the_limit() {
        let mut parser = SseParser::new(24);
        parser.push(b"data: 0123456789\n").expect("fits");
        assert_eq!(parser.next_event(), None);
        // 11 bytes of data are held; 14 more would exceed 24.
        assert_eq!(parser.push(b"data: abcdefgh"), Err(EventTooLarge));
    }

    #[test]
    fn consumed_events_free_their_room() {
        let mut parser = SseParser::new(32);
        for round in 0..100 {
            parser
                .push(b"data: 0123456789\n\n")
                .expect("fits every time");
            assert_eq!(
                parser.next_event(),
                Some(event("message", "0123456789")),
                "round {round}"
            );
        }
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        assert_eq!(
            parse_all(&[b"data: \xFF\n\n"]),
            vec![event("message", "\u{FFFD}")]
        );
    }

    #[test]
    fn the_last_event_id_and_retry_are_kept_for_resumption() {
        let mut parser = SseParser::new(1 << 10);
        assert_eq!(parser.last_event_id(), None);
        parser
            .push(b"id: 0\nretry: 250\ndata:\n\nid: 7\ndata: x\n\nretry: soon\nid: a\0b\n\n")
            .expect("fits");
        assert_eq!(parser.next_event(), Some(event("message", "")));
        assert_eq!(parser.next_event(), Some(event("message", "x")));
        assert_eq!(parser.next_event(), None);
        assert_eq!(parser.last_event_id(), Some("7"));
        assert_eq!(parser.retry(), Some(std::time::Duration::from_millis(250)));
        parser.set_last_event_id("9");
        assert_eq!(parser.last_event_id(), Some("9"));
    }
}
