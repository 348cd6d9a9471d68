//! The in-memory log of one answer's events, which any number of subscribers replay and
//! then follow.
//!
//! Every event is appended to a vector, its index being its sequence number, and a watch
//! channel tells waiting subscribers that the log grew. A subscriber reads what it has not
//! seen under the lock and waits on the channel only when it has read everything, so it
//! can join at any point and can neither miss an event nor see one twice. A broadcast
//! channel would drop events for a slow subscriber and send it back to the log anyway.
//!
//! An event can also be appended quietly and announced later with others, so that a
//! subscriber woken once finds them all and its connection writes them together.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::stream::{BoxStream, StreamExt as _};
use tokio::sync::watch;

use super::event::{SeqEvent, StreamEvent};
use crate::store::MessageId;

/// The events of one answer.
#[derive(Debug)]
pub(crate) struct EventLog {
    message_id: MessageId,
    inner: Mutex<Inner>,
    grown: watch::Sender<()>,
}

#[derive(Debug, Default)]
struct Inner {
    events: Vec<Arc<SeqEvent>>,
    /// Events appended since the subscribers were last woken.
    unannounced: usize,
    finished: bool,
}

impl EventLog {
    pub(crate) fn new(message_id: MessageId) -> Self {
        Self {
            message_id,
            inner: Mutex::default(),
            grown: watch::Sender::new(()),
        }
    }

    /// Appends `event` and wakes the subscribers. Events after [`EventLog::finish`] are
    /// dropped, since subscribers may already have gone.
    pub(crate) fn push(&self, event: StreamEvent) {
        self.append(event);
        self.announce();
    }

    /// Appends `event` without waking the subscribers: a subscriber reading for another
    /// reason sees it, and the next [`EventLog::announce`] (or push) wakes the rest.
    pub(crate) fn append(&self, event: StreamEvent) {
        let mut inner = self.lock();
        if inner.finished {
            return;
        }
        let seq = inner.events.len() as u64;
        inner.events.push(Arc::new(SeqEvent {
            message_id: self.message_id,
            seq,
            event,
        }));
        inner.unannounced += 1;
    }

    /// How many events were appended since the subscribers were last woken.
    pub(crate) fn unannounced(&self) -> usize {
        self.lock().unannounced
    }

    /// Wakes the subscribers if anything was appended since they were last woken.
    pub(crate) fn announce(&self) {
        let appended = std::mem::take(&mut self.lock().unannounced);
        if appended > 0 {
            self.grown.send_replace(());
        }
    }

    /// Marks the log complete: subscribers end once they have read it all.
    pub(crate) fn finish(&self) {
        {
            let mut inner = self.lock();
            inner.finished = true;
            inner.unannounced = 0;
        }
        self.grown.send_replace(());
    }

    /// Whether [`EventLog::finish`] has been called.
    pub(crate) fn is_finished(&self) -> bool {
        self.lock().finished
    }

    /// Waits until the log is finished.
    pub(crate) async fn finished(&self) {
        let mut grown = self.grown.subscribe();
        while !self.is_finished() {
            if grown.changed().await.is_err() {
                return;
            }
        }
    }

    /// The events after `after` (all of them for `None`), then each new one as it comes,
    /// ending when the log is finished.
    pub(crate) fn follow(
        self: &Arc<Self>,
        after: Option<u64>,
    ) -> BoxStream<'static, Arc<SeqEvent>> {
        let log = Arc::clone(self);
        // Subscribing before the first read means any push after it marks the channel
        // changed, so the wait below cannot sleep through an event.
        let mut grown = self.grown.subscribe();
        let mut next = after.map_or(0, |seq| seq.saturating_add(1));
        async_stream::stream! {
            loop {
                let (batch, finished) = log.read_from(next);
                next += batch.len() as u64;
                for event in batch {
                    yield event;
                }
                if finished || grown.changed().await.is_err() {
                    break;
                }
            }
        }
        .boxed()
    }

    fn read_from(&self, next: u64) -> (Vec<Arc<SeqEvent>>, bool) {
        let inner = self.lock();
        let start = usize::try_from(next).map_or(inner.events.len(), |n| n.min(inner.events.len()));
        (inner.events[start..].to_vec(), inner.finished)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock, and the log is valid after any push.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use futures::{FutureExt as _, StreamExt as _};

    use super::*;
    use crate::wire::TextEvent;

    fn text(delta: &str) -> StreamEvent {
        StreamEvent::Text(TextEvent {
            delta: delta.to_owned(),
        })
    }

    fn next_seq(events: &mut BoxStream<'static, Arc<SeqEvent>>) -> Option<u64> {
        events
            .next()
            .now_or_never()
            .flatten()
            .map(|event| event.seq)
    }

    #[test]
    fn appended_events_reach_a_waiting_subscriber_once_announced() {
        let log = Arc::new(EventLog::new(MessageId::new(1)));
        log.push(text("a"));
        let mut events = log.follow(None);
        assert_eq!(next_seq(&mut events), Some(0));
        assert_eq!(next_seq(&mut events), None, "nothing more yet");

        log.append(text("b"));
        log.append(text("c"));
        assert_eq!(log.unannounced(), 2);
        assert_eq!(next_seq(&mut events), None, "appended but not announced");

        log.announce();
        assert_eq!(log.unannounced(), 0);
        assert_eq!(next_seq(&mut events), Some(1));
        assert_eq!(next_seq(&mut events), Some(2));

        // A late subscriber reads what was appended without waiting for an announcement,
        // and finishing announces whatever is left.
        log.append(text("d"));
        let mut late = log.follow(Some(1));
        assert_eq!(next_seq(&mut late), Some(2));
        assert_eq!(next_seq(&mut late), Some(3));
        log.finish();
        assert_eq!(next_seq(&mut events), Some(3));
        assert!(
            matches!(events.next().now_or_never(), Some(None)),
            "the stream ends"
        );
    }
}
