//! The gateway's own list cursors (`prompts/list`, `resources/list`,
//! `resources/templates/list`): pages of one merged, name-sorted list.
//!
//! A cursor names the last item of the page before it, so the next page is "everything
//! after that name". Such a cursor stays valid whatever happens between two requests: an
//! item added or removed moves no other item to another page, nothing is listed twice, and
//! a backend going down only takes its own items out. It is opaque to clients (base64url of
//! a versioned text) and carries no state on the gateway.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Items per page: what one answer carries at most.
pub const PAGE_SIZE: usize = 100;

const VERSION: &str = "v1:";

/// A cursor the gateway did not make (or made by an incompatible version).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor")]
pub struct BadCursor;

/// The page of `items` that follows `cursor` (the first page without one), and the cursor
/// of the page after it when there is one. `key` is the item's exposed name; `items` may
/// come in any order.
pub fn page<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> &str,
    cursor: Option<&str>,
    page_size: usize,
) -> Result<(Vec<T>, Option<String>), BadCursor> {
    items.sort_by(|a, b| key(a).cmp(key(b)));
    let start = match cursor {
        None => 0,
        Some(cursor) => {
            let after = decode(cursor)?;
            items.partition_point(|item| key(item) <= after.as_str())
        }
    };
    let mut rest: Vec<T> = items.into_iter().skip(start).collect();
    let next = if rest.len() > page_size {
        rest.truncate(page_size);
        rest.last().map(|last| encode(key(last)))
    } else {
        None
    };
    Ok((rest, next))
}

fn encode(after: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{VERSION}{after}"))
}

fn decode(cursor: &str) -> Result<String, BadCursor> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| BadCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| BadCursor)?;
    text.strip_prefix(VERSION)
        .map(str::to_owned)
        .ok_or(BadCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("s__p{i:03}")).collect()
    }

    fn all_pages(items: Vec<String>, size: usize) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let (page, next) =
                page(items.clone(), |s| s.as_str(), cursor.as_deref(), size).expect("own cursor");
            pages.push(page);
            match next {
                Some(next) => cursor = Some(next),
                None => return pages,
            }
        }
    }

    #[test]
    fn a_short_list_is_one_page_without_a_cursor() {
        let (items, next) = page(names(3), |s| s.as_str(), None, 10).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(next, None);
        let (items, next) = page(names(10), |s| s.as_str(), None, 10).unwrap();
        assert_eq!((items.len(), next), (10, None), "exactly one full page");
        let (items, next) = page(Vec::<String>::new(), |s| s.as_str(), None, 10).unwrap();
        assert!(items.is_empty() && next.is_none());
    }

    #[test]
    fn pages_cover_every_item_once_in_order() {
        let pages = all_pages(names(25), 10);
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
        let flat: Vec<String> = pages.concat();
        assert_eq!(flat, names(25));
    }

    #[test]
    fn input_order_does_not_matter() {
        let mut shuffled = names(25);
        shuffled.reverse();
        assert_eq!(all_pages(shuffled, 10).concat(), names(25));
    }

    #[test]
    fn a_cursor_survives_changes_between_pages() {
        let (_, next) = page(names(25), |s| s.as_str(), None, 10).unwrap();
        let cursor = next.unwrap();
        // Items before the cursor removed, others added: the next page starts right after
        // the last item seen.
        let mut changed: Vec<String> = names(25).into_iter().skip(3).collect();
        changed.push("s__p0005".into());
        changed.push("a__first".into());
        let (items, _) = page(changed, |s| s.as_str(), Some(&cursor), 10).unwrap();
        assert_eq!(items[0], "s__p010");
        assert!(!items.contains(&"a__first".to_owned()), "before the cursor");
        assert!(!items.contains(&"s__p0005".to_owned()), "before the cursor");
        // The cursor's own item gone: still after it.
        let without: Vec<String> = names(25).into_iter().filter(|n| n != "s__p009").collect();
        let (items, _) = page(without, |s| s.as_str(), Some(&cursor), 10).unwrap();
        assert_eq!(items[0], "s__p010");
    }

    #[test]
    fn foreign_cursors_are_refused() {
        for bad in ["", "!!", "djI6eA", &URL_SAFE_NO_PAD.encode([0xff, 0xfe])] {
            assert_eq!(
                page(names(3), |s| s.as_str(), Some(bad), 10).map(|_| ()),
                Err(BadCursor),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn cursors_are_opaque() {
        let (_, next) = page(names(25), |s| s.as_str(), None, 10).unwrap();
        let cursor = next.unwrap();
        assert!(!cursor.contains("s__p"), "{cursor}");
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
}
