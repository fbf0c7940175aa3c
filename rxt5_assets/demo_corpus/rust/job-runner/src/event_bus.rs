//! In-process publish/subscribe.
//!
//! Topics are dot-separated (`job.completed`). A subscription pattern may
//! end in `*` to receive a whole family, e.g. `job.*`.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;

/// A delivered event together with the topic it was published on.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<E> {
    pub topic: String,
    pub event: E,
}

struct Subscriber<E> {
    id: u64,
    pattern: String,
    sender: Sender<Envelope<E>>,
}

/// Does `pattern` match `topic`?
pub fn topic_matches(pattern: &str, topic: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(prefix) => topic.starts_with(prefix),
        None => pattern == topic,
    }
}

/// Fan-out event bus backed by `mpsc` channels.
///
/// Subscribers that drop their receiver are pruned on the next publish.
pub struct EventBus<E> {
    subscribers: Mutex<Vec<Subscriber<E>>>,
    next_id: Mutex<u64>,
}

impl<E> Default for EventBus<E> {
    fn default() -> Self {
        EventBus { subscribers: Mutex::new(Vec::new()), next_id: Mutex::new(1) }
    }
}

/// Handle returned by [`EventBus::subscribe`].
pub struct Subscription<E> {
    pub id: u64,
    receiver: Receiver<Envelope<E>>,
}

impl<E> Subscription<E> {
    /// All events received so far, without blocking.
    pub fn drain(&self) -> Vec<Envelope<E>> {
        self.receiver.try_iter().collect()
    }

    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Option<Envelope<E>> {
        self.receiver.recv_timeout(timeout).ok()
    }
}

impl<E: Clone + Send> EventBus<E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Subscribe to topics matching `pattern`.
    pub fn subscribe(&self, pattern: &str) -> Subscription<E> {
        let (sender, receiver) = mpsc::channel();
        let id = {
            let mut next = self.next_id.lock().unwrap_or_else(|p| p.into_inner());
            let id = *next;
            *next += 1;
            id
        };
        self.subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Subscriber { id, pattern: pattern.to_string(), sender });
        Subscription { id, receiver }
    }

    /// Remove a subscription explicitly.
    pub fn unsubscribe(&self, id: u64) -> bool {
        let mut subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        let before = subs.len();
        subs.retain(|s| s.id != id);
        subs.len() != before
    }

    /// Deliver `event` to every matching subscriber. Returns the number of
    /// subscribers that received it.
    pub fn publish(&self, topic: &str, event: E) -> usize {
        let mut subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        let mut delivered = 0;
        subs.retain(|sub| {
            if !topic_matches(&sub.pattern, topic) {
                return true;
            }
            let envelope = Envelope { topic: topic.to_string(), event: event.clone() };
            match sub.sender.send(envelope) {
                Ok(()) => {
                    delivered += 1;
                    true
                }
                Err(_) => false,
            }
        });
        delivered
    }

    pub fn subscriber_count(&self) -> usize {
        self.subscribers.lock().map(|s| s.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    #[derive(Debug, Clone, PartialEq)]
    enum JobEvent {
        Started(u64),
        Completed(u64),
    }

    #[test]
    fn wildcard_matching() {
        assert!(topic_matches("job.*", "job.completed"));
        assert!(topic_matches("*", "anything"));
        assert!(!topic_matches("job.*", "worker.started"));
        assert!(topic_matches("job.started", "job.started"));
    }

    #[test]
    fn publish_fans_out_to_matching_subscribers() {
        let bus = EventBus::new();
        let all = bus.subscribe("job.*");
        let done = bus.subscribe("job.completed");
        assert_eq!(bus.publish("job.started", JobEvent::Started(1)), 1);
        assert_eq!(bus.publish("job.completed", JobEvent::Completed(1)), 2);
        assert_eq!(all.drain().len(), 2);
        let got = done.drain();
        assert_eq!(got, vec![Envelope { topic: "job.completed".into(), event: JobEvent::Completed(1) }]);
    }

    #[test]
    fn dropped_subscribers_are_pruned() {
        let bus = EventBus::new();
        let keep = bus.subscribe("*");
        drop(bus.subscribe("*"));
        assert_eq!(bus.publish("x", 1u8), 1);
        assert_eq!(bus.subscriber_count(), 1);
        assert!(bus.unsubscribe(keep.id));
        assert_eq!(bus.publish("x", 2u8), 0);
    }

    #[test]
    fn works_across_threads() {
        let bus = Arc::new(EventBus::new());
        let sub = bus.subscribe("metrics.tick");
        let publisher = {
            let bus = Arc::clone(&bus);
            thread::spawn(move || (0..5).map(|i| bus.publish("metrics.tick", i)).sum::<usize>())
        };
        assert_eq!(publisher.join().unwrap(), 5);
        let received: Vec<i32> = std::iter::from_fn(|| sub.recv_timeout(Duration::from_millis(50)))
            .map(|e| e.event)
            .collect();
        assert_eq!(received, [0, 1, 2, 3, 4]);
    }
}
