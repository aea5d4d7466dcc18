//! A node's bounded outbox: the messages the controller owes one agent, in order.
//!
//! The sync engine pushes deltas without ever waiting; when the outbox is full (the agent reads too
//! slowly or is stuck), everything queued is dropped and the outbox asks for a snapshot instead: the
//! stream then sends one fresh snapshot rather than an unbounded backlog. One slow agent therefore
//! costs the others nothing and costs the controller at most `capacity` messages.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use sdn_proto::v1 as pb;
use tokio::sync::Notify;

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// The message is queued.
    Queued,
    /// The outbox was full: it was emptied and now waits for a snapshot.
    Overflowed,
    /// A snapshot is already owed; the message was dropped (the snapshot will hold it).
    Resyncing,
}

/// What the stream sends next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// This message.
    Message(pb::ControllerMessage),
    /// A fresh snapshot, built now.
    Snapshot,
    /// Nothing more: the session ended.
    Closed,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<pb::ControllerMessage>,
    resync: bool,
    closed: bool,
}

/// A bounded queue of messages for one agent with overflow-to-snapshot.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    notify: Notify,
    capacity: usize,
}

impl Outbox {
    /// An empty outbox holding at most `capacity` messages (at least 1).
    pub fn new(capacity: usize) -> Outbox {
        Outbox {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a message without waiting.
    pub fn push(&self, msg: pb::ControllerMessage) -> Pushed {
        let mut s = self.lock();
        if s.resync || s.closed {
            return Pushed::Resyncing;
        }
        if s.queue.len() >= self.capacity {
            s.queue.clear();
            s.resync = true;
            drop(s);
            self.notify.notify_one();
            return Pushed::Overflowed;
        }
        s.queue.push_back(msg);
        drop(s);
        self.notify.notify_one();
        Pushed::Queued
    }

    /// Drops what is queued and asks for a snapshot.
    pub fn request_snapshot(&self) {
        let mut s = self.lock();
        s.queue.clear();
        s.resync = true;
        drop(s);
        self.notify.notify_one();
    }

    /// Called while the snapshot is built: drops what is queued and clears the request.
    pub fn begin_snapshot(&self) {
        let mut s = self.lock();
        s.queue.clear();
        s.resync = false;
    }

    /// true while a snapshot is owed.
    pub fn resyncing(&self) -> bool {
        self.lock().resync
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// true when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ends the session: the stream stops after this.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_one();
    }

    /// Waits for what to send next (one consumer).
    pub async fn next(&self) -> Next {
        loop {
            {
                let mut s = self.lock();
                if s.closed {
                    return Next::Closed;
                }
                if s.resync {
                    return Next::Snapshot;
                }
                if let Some(msg) = s.queue.pop_front() {
                    return Next::Message(msg);
                }
            }
            self.notify.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(revision: i64) -> pb::ControllerMessage {
        pb::ControllerMessage {
            message: Some(pb::controller_message::Message::Delta(pb::Delta {
                revision,
                ..Default::default()
            })),
        }
    }

    #[tokio::test]
    async fn overflow_turns_the_backlog_into_one_snapshot() {
        let out = Outbox::new(2);
        assert_eq!(out.push(delta(2)), Pushed::Queued);
        assert_eq!(out.push(delta(3)), Pushed::Queued);
        assert_eq!(out.push(delta(4)), Pushed::Overflowed);
        assert_eq!(out.len(), 0, "backlog dropped");
        assert_eq!(out.push(delta(5)), Pushed::Resyncing);
        assert_eq!(out.next().await, Next::Snapshot);
        out.begin_snapshot();
        assert_eq!(out.push(delta(6)), Pushed::Queued);
        assert_eq!(out.next().await, Next::Message(delta(6)));
        out.close();
        assert_eq!(out.next().await, Next::Closed);
    }

    #[tokio::test]
    async fn a_waiting_stream_wakes_on_push() {
        let out = std::sync::Arc::new(Outbox::new(4));
        let reader = {
            let out = out.clone();
            tokio::spawn(async move { out.next().await })
        };
        tokio::task::yield_now().await;
        out.push(delta(7));
        assert_eq!(reader.await.unwrap(), Next::Message(delta(7)));
    }
}
