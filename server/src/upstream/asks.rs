//! Which downstream client a backend's request to its client is for: the calls in flight on
//! one backend connection and the clients that made them.
//!
//! A backend asks its client (`sampling/createMessage`, `elicitation/create`, `roots/list`)
//! during a call, but the backend session is shared by every downstream caller. Where the
//! request says which call it belongs to — it came on that call's response stream (streamable
//! HTTP) — it goes to that call's client. Where it cannot say (stdio, legacy SSE, a streamable
//! HTTP server that sends it on its standalone stream), it goes to the client of the calls in
//! flight when they all come from one client session; with calls of several callers in flight
//! it is refused, since a guess could show one user's prompt to another. `roots/list` outside
//! any call (servers ask right after `initialize`) gets the gateway's own roots: none.

// Sampling and roots are deprecated by the 2026-07-28 revision (SEP-2577); backends of the
// session era still ask for them.
#![allow(deprecated)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use rmcp::model::{ClientResult, ErrorData, ListRootsResult, RequestId, ServerRequest};
use tokio_util::sync::CancellationToken;

use crate::client_requests::{self, Requester};

/// The requests a backend may send its client that are relayed to the caller.
pub const RELAYED: [&str; 3] = ["sampling/createMessage", "elicitation/create", "roots/list"];

/// The calls in flight on one backend connection, as far as routing requests needs them.
#[derive(Default)]
pub struct InFlightCalls {
    /// Calls whose caller is a client that can be asked, by registration number.
    with_client: Mutex<HashMap<u64, Entry>>,
    /// Calls whose caller cannot be asked (plain JSON-RPC, REST, 2026-07-28, sessions answered
    /// without rmcp): only counted, which costs the commonest calls no lock.
    without_client: AtomicUsize,
    next: AtomicU64,
}

struct Entry {
    /// The call's request id on the backend session, once sent.
    backend_id: Option<RequestId>,
    requester: Requester,
    /// Cancelled when the call ends: its client's pending answers are no longer awaited.
    ended: CancellationToken,
}

/// Where a backend's request goes.
pub enum Route {
    /// To the client of a call in flight, until that call ends.
    Client {
        requester: Requester,
        ended: CancellationToken,
    },
    /// The call it belongs to has no client that can be asked.
    NoClient,
    /// No call is in flight.
    NoCall,
    /// Calls of several callers are in flight: which one is asking cannot be known.
    Ambiguous,
}

impl InFlightCalls {
    /// Count a call in flight until the registration is dropped.
    pub fn register(&self, requester: Option<Requester>) -> Registration<'_> {
        let Some(requester) = requester else {
            self.without_client.fetch_add(1, Ordering::Relaxed);
            return Registration {
                calls: self,
                key: None,
            };
        };
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            backend_id: None,
            requester,
            ended: CancellationToken::new(),
        };
        if let Ok(mut calls) = self.with_client.lock() {
            calls.insert(key, entry);
        }
        Registration {
            calls: self,
            key: Some(key),
        }
    }

    /// The route of a request that came on the stream of the call `backend_id`; `None` when no
    /// call with a client has that id.
    pub fn of_call(&self, backend_id: &RequestId) -> Option<Route> {
        let calls = self.with_client.lock().ok()?;
        calls
            .values()
            .find(|entry| entry.backend_id.as_ref() == Some(backend_id))
            .map(Entry::route)
    }

    /// The route of a request that came on the stream of our request `backend_id`: that call's
    /// client. A request we made for no client (a prompt, a list) has none — never a guess,
    /// which could hand one caller's request to another — unless a call's id is not known yet
    /// (the backend asked before its send returned): then the rule of [`Self::route`].
    pub fn of_stream(&self, backend_id: &RequestId) -> Route {
        if let Some(route) = self.of_call(backend_id) {
            return route;
        }
        let unsent = self
            .with_client
            .lock()
            .is_ok_and(|calls| calls.values().any(|entry| entry.backend_id.is_none()));
        if unsent {
            self.route()
        } else {
            Route::NoClient
        }
    }

    /// The route of a request that does not say which call it belongs to; see the module docs.
    pub fn route(&self) -> Route {
        let Ok(calls) = self.with_client.lock() else {
            return Route::Ambiguous;
        };
        let entries: Vec<&Entry> = calls.values().collect();
        let without_client = self.without_client.load(Ordering::Relaxed);
        match decide(&entries, without_client, |a, b| {
            a.requester.same_client(&b.requester)
        }) {
            Decision::One(entry) => entry.route(),
            Decision::NoClient => Route::NoClient,
            Decision::NoCall => Route::NoCall,
            Decision::Several => Route::Ambiguous,
        }
    }
}

impl Entry {
    fn route(&self) -> Route {
        Route::Client {
            requester: self.requester.clone(),
            ended: self.ended.clone(),
        }
    }
}

/// One call in flight in [`InFlightCalls`]; dropping it ends the call there.
pub struct Registration<'a> {
    calls: &'a InFlightCalls,
    key: Option<u64>,
}

impl Registration<'_> {
    /// The call's id on the backend session, known once it is sent.
    pub fn set_backend_id(&self, id: &RequestId) {
        if let (Some(key), Ok(mut calls)) = (self.key, self.calls.with_client.lock())
            && let Some(entry) = calls.get_mut(&key)
        {
            entry.backend_id = Some(id.clone());
        }
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        match self.key {
            None => {
                self.calls.without_client.fetch_sub(1, Ordering::Relaxed);
            }
            Some(key) => {
                let entry = self
                    .calls
                    .with_client
                    .lock()
                    .ok()
                    .and_then(|mut calls| calls.remove(&key));
                if let Some(entry) = entry {
                    entry.ended.cancel();
                }
            }
        }
    }
}

/// The rule of [`InFlightCalls::route`] over the calls in flight: those whose client can be
/// asked, and how many others.
#[derive(Debug, PartialEq)]
enum Decision<T> {
    One(T),
    NoClient,
    NoCall,
    Several,
}

fn decide<T: Copy>(
    with_client: &[T],
    without_client: usize,
    same_client: impl Fn(T, T) -> bool,
) -> Decision<T> {
    match (with_client.split_first(), without_client) {
        (None, 0) => Decision::NoCall,
        (None, _) => Decision::NoClient,
        (Some((&first, rest)), 0) if rest.iter().all(|&other| same_client(first, other)) => {
            Decision::One(first)
        }
        _ => Decision::Several,
    }
}

/// Answer a backend's `request` along `route`: the client's answer, or at once an error
/// saying why there is none. `withdrawn` resolves when the backend cancels its request.
pub async fn relay(
    route: Route,
    request: ServerRequest,
    withdrawn: impl Future<Output = ()>,
) -> Result<ClientResult, ErrorData> {
    let method = client_requests::method_of(&request).to_owned();
    let outcome = match route {
        Route::Client { requester, ended } => {
            let abandon = async {
                tokio::select! {
                    () = ended.cancelled() => {}
                    () = withdrawn => {}
                }
            };
            requester.ask(request, abandon).await
        }
        Route::NoCall if matches!(request, ServerRequest::ListRootsRequest(_)) => {
            Ok(ClientResult::ListRootsResult(ListRootsResult::default()))
        }
        Route::NoCall => Err(client_requests::no_call(&request)),
        Route::NoClient => Err(client_requests::no_client(&request)),
        Route::Ambiguous => Err(client_requests::ambiguous()),
    };
    if let Err(error) = &outcome {
        tracing::debug!(%method, reason = %error.message, "backend request to its client answered with an error");
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clients are numbers here: equal numbers are the same client session.
    fn decided(with_client: &[u32], without_client: usize) -> Decision<u32> {
        decide(with_client, without_client, |a, b| a == b)
    }

    #[test]
    fn no_call_in_flight() {
        assert_eq!(decided(&[], 0), Decision::NoCall);
    }

    #[test]
    fn calls_of_one_client_go_to_that_client() {
        assert_eq!(decided(&[7], 0), Decision::One(7));
        assert_eq!(decided(&[7, 7, 7], 0), Decision::One(7));
    }

    #[test]
    fn calls_of_several_callers_are_ambiguous() {
        assert_eq!(decided(&[7, 8], 0), Decision::Several);
        // A caller that cannot be asked may be the one asking all the same.
        assert_eq!(decided(&[7], 1), Decision::Several);
    }

    #[test]
    fn calls_without_a_client_to_ask() {
        assert_eq!(decided(&[], 1), Decision::NoClient);
        assert_eq!(decided(&[], 3), Decision::NoClient);
    }

    #[test]
    fn registrations_count_and_end_calls() {
        let calls = InFlightCalls::default();
        assert!(matches!(calls.route(), Route::NoCall));
        let anonymous = calls.register(None);
        assert!(matches!(calls.route(), Route::NoClient));
        assert!(calls.of_call(&RequestId::Number(1)).is_none());
        drop(anonymous);
        assert!(matches!(calls.route(), Route::NoCall));
    }

    #[tokio::test]
    async fn roots_outside_any_call_are_none_and_the_rest_is_refused_at_once() {
        use rmcp::model::{ListRootsRequest, ServerRequest};
        let roots = ServerRequest::ListRootsRequest(ListRootsRequest::default());
        let answer = relay(Route::NoCall, roots.clone(), std::future::pending()).await;
        assert!(
            matches!(answer, Ok(ClientResult::ListRootsResult(ref r)) if r.roots.is_empty()),
            "{answer:?}"
        );
        for route in [Route::NoClient, Route::Ambiguous] {
            let answer = relay(route, roots.clone(), std::future::pending()).await;
            assert!(answer.is_err(), "{answer:?}");
        }
    }
}
