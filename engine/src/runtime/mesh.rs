//! Links between executors: for every ordered pair of cores, a bounded request channel one way
//! and a response channel back (glommio `shared_channel` pairs, created before the executors
//! start and connected on each side). Requests carry an id; a per-peer task routes responses to
//! the waiting caller.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use ahash::AHashMap;
use futures::channel::oneshot;
use futures::future::join_all;
use glommio::channels::shared_channel::{
    self, ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
};

use super::message::{ShardRequest, ShardResponse};
use crate::error::EngineError;

/// A request on the wire between cores.
pub type RequestEnvelope = (u64, ShardRequest);
/// A response on the wire between cores.
pub type ResponseEnvelope = (u64, Result<ShardResponse, EngineError>);

/// One executor's unconnected channel ends, handed to it at spawn.
#[derive(Default)]
pub struct MeshEnds {
    /// To each peer: where to send requests (index = peer; `None` for self).
    pub request_senders: Vec<Option<SharedSender<RequestEnvelope>>>,
    /// From each peer: where its responses arrive.
    pub response_receivers: Vec<Option<SharedReceiver<ResponseEnvelope>>>,
    /// From each peer: where its requests arrive.
    pub request_receivers: Vec<Option<SharedReceiver<RequestEnvelope>>>,
    /// To each peer: where to send responses to its requests.
    pub response_senders: Vec<Option<SharedSender<ResponseEnvelope>>>,
}

/// Builds the channel ends of a full mesh of `shards_count` executors; entry k goes to core k.
pub fn build_mesh(shards_count: usize, channel_capacity: usize) -> Vec<MeshEnds> {
    let mut ends: Vec<MeshEnds> = (0..shards_count)
        .map(|_| MeshEnds {
            request_senders: (0..shards_count).map(|_| None).collect(),
            response_receivers: (0..shards_count).map(|_| None).collect(),
            request_receivers: (0..shards_count).map(|_| None).collect(),
            response_senders: (0..shards_count).map(|_| None).collect(),
        })
        .collect();
    for from in 0..shards_count {
        for to in (0..shards_count).filter(|&to| to != from) {
            let (request_tx, request_rx) = shared_channel::new_bounded(channel_capacity);
            let (response_tx, response_rx) = shared_channel::new_bounded(channel_capacity);
            ends[from].request_senders[to] = Some(request_tx);
            ends[from].response_receivers[to] = Some(response_rx);
            ends[to].request_receivers[from] = Some(request_rx);
            ends[to].response_senders[from] = Some(response_tx);
        }
    }
    ends
}

/// The calling side of a link to one peer.
pub struct PeerLink {
    peer: usize,
    sender: ConnectedSender<RequestEnvelope>,
    pending: RefCell<AHashMap<u64, oneshot::Sender<Result<ShardResponse, EngineError>>>>,
    next_id: Cell<u64>,
}

impl PeerLink {
    /// Wraps connected channel ends and starts the task that routes the peer's responses.
    pub fn start(
        peer: usize,
        sender: ConnectedSender<RequestEnvelope>,
        responses: ConnectedReceiver<ResponseEnvelope>,
    ) -> Rc<PeerLink> {
        let link = Rc::new(PeerLink {
            peer,
            sender,
            pending: RefCell::new(AHashMap::new()),
            next_id: Cell::new(1),
        });
        glommio::spawn_local(route_responses(Rc::clone(&link), responses)).detach();
        link
    }

    /// Sends `request` and waits for the answer.
    pub async fn call(&self, request: ShardRequest) -> Result<ShardResponse, EngineError> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (done_tx, done_rx) = oneshot::channel();
        self.pending.borrow_mut().insert(id, done_tx);
        if self.sender.send((id, request)).await.is_err() {
            self.pending.borrow_mut().remove(&id);
            return Err(self.unavailable("request channel closed"));
        }
        done_rx
            .await
            .map_err(|_| self.unavailable("response dropped"))?
    }

    fn unavailable(&self, detail: &str) -> EngineError {
        EngineError::ShardUnavailable {
            shard: self.peer,
            detail: detail.to_string(),
        }
    }
}

async fn route_responses(link: Rc<PeerLink>, responses: ConnectedReceiver<ResponseEnvelope>) {
    while let Some((id, response)) = responses.recv().await {
        let waiter = link.pending.borrow_mut().remove(&id);
        match waiter {
            Some(waiter) => {
                // The caller may have gone away (its connection closed); nothing to do then.
                let _ = waiter.send(response);
            }
            None => tracing::error!(peer = link.peer, id, "response for an unknown request"),
        }
    }
    // The peer is gone: fail everyone still waiting instead of leaving them hanging.
    link.pending.borrow_mut().clear();
}

/// One executor's connected channel ends, index = peer (`None` for itself).
pub struct ConnectedEnds {
    /// Calling side: request sender and response receiver per peer.
    pub calling: Vec<
        Option<(
            ConnectedSender<RequestEnvelope>,
            ConnectedReceiver<ResponseEnvelope>,
        )>,
    >,
    /// Serving side: request receiver and response sender per peer.
    pub serving: Vec<
        Option<(
            ConnectedReceiver<RequestEnvelope>,
            ConnectedSender<ResponseEnvelope>,
        )>,
    >,
}

/// Connects every end at once. `connect` waits for the peer's matching end, so connecting one
/// end at a time would deadlock two executors waiting on each other.
pub async fn connect_all(ends: MeshEnds) -> ConnectedEnds {
    let MeshEnds {
        request_senders,
        response_receivers,
        request_receivers,
        response_senders,
    } = ends;
    let calling = join_all(request_senders.into_iter().zip(response_receivers).map(
        |pair| async move {
            match pair {
                (Some(s), Some(r)) => {
                    let (s, r) = futures::join!(s.connect(), r.connect());
                    Some((s, r))
                }
                _ => None,
            }
        },
    ));
    let serving = join_all(request_receivers.into_iter().zip(response_senders).map(
        |pair| async move {
            match pair {
                (Some(r), Some(s)) => {
                    let (r, s) = futures::join!(r.connect(), s.connect());
                    Some((r, s))
                }
                _ => None,
            }
        },
    ));
    let (calling, serving) = futures::join!(calling, serving);
    ConnectedEnds { calling, serving }
}
