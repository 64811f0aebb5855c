//! The MTA's use of the durable queue (`crates/queue`): a message being received becomes a
//! [`Draft`], committed (fsynced) before the 250; bounces are queued like any message.

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use queue::{
    Envelope, Incoming, NewEnvelope, NewRecipient, Queue, QueueError, QueueId, Recovery, Timestamp,
};

use crate::session::AcceptedRecipient;

/// How a message arrived.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub client_ip: Option<IpAddr>,
    /// The client's verified (forward-confirmed) reverse name.
    pub client_name: Option<String>,
    pub helo: String,
    pub login: Option<String>,
    pub listener: String,
    pub tls: bool,
    pub protocol: String,
}

/// A message about to be received.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// MAIL FROM without brackets, "" for `<>`.
    pub sender: String,
    pub params: smtp::MailParams,
    pub recipients: Vec<AcceptedRecipient>,
    pub origin: Origin,
}

/// A message being written into the queue.
#[derive(Debug)]
pub struct Draft {
    incoming: Incoming,
    id: String,
}

impl Draft {
    /// The queue id it will have.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Appends message bytes (CRLF line ends, not dot-stuffed).
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.incoming.write_all(bytes)
    }

    /// The envelope it will be queued with (milters may change recipients and sender).
    pub fn envelope_mut(&mut self) -> &mut Envelope {
        self.incoming.envelope_mut()
    }
}

/// The queue directory.
#[derive(Debug)]
pub struct Spool {
    queue: Queue,
}

impl Spool {
    /// Opens (and recovers) the queue at `root`.
    pub fn open(root: &Path) -> Result<(Spool, Recovery), QueueError> {
        let (queue, recovery) = Queue::open(root)?;
        Ok((Spool { queue }, recovery))
    }

    /// Starts receiving `message`. Each alias target is its own queue recipient, with the
    /// address the client gave as its ORCPT (unless the client sent one).
    pub fn begin(&self, message: &NewMessage) -> Result<Draft, QueueError> {
        let mut recipients = Vec::new();
        for accepted in &message.recipients {
            let given = accepted
                .given
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string();
            for target in &accepted.targets {
                let orcpt = match &accepted.params.orcpt {
                    Some(o) => Some(queue::OriginalRecipient {
                        addr_type: o.addr_type.clone(),
                        address: o.address.clone(),
                    }),
                    None if !target.eq_ignore_ascii_case(&given) => {
                        Some(queue::OriginalRecipient {
                            addr_type: "rfc822".into(),
                            address: given.clone(),
                        })
                    }
                    None => None,
                };
                recipients.push(NewRecipient {
                    address: target.clone(),
                    orcpt,
                    notify: accepted.params.notify.map(|n| queue::Notify {
                        never: n.never,
                        success: n.success,
                        failure: n.failure,
                        delay: n.delay,
                    }),
                });
            }
        }
        let params = &message.params;
        let new = NewEnvelope {
            arrival: Timestamp::now(),
            sender: message.sender.clone(),
            params: queue::MailParams {
                size: params.size,
                body: params.body.map(|b| match b {
                    smtp::Body::SevenBit => queue::Body::SevenBit,
                    smtp::Body::EightBitMime => queue::Body::EightBitMime,
                    smtp::Body::BinaryMime => queue::Body::BinaryMime,
                }),
                smtputf8: params.smtputf8,
                ret: params.ret.map(|r| match r {
                    smtp::Ret::Full => queue::Ret::Full,
                    smtp::Ret::Headers => queue::Ret::Headers,
                }),
                envid: params.envid.clone(),
            },
            origin: queue::Origin {
                client_address: message.origin.client_ip.map(|ip| ip.to_string()),
                client_name: message.origin.client_name.clone(),
                helo: Some(message.origin.helo.clone()).filter(|h| !h.is_empty()),
                auth_user: message.origin.login.clone(),
                listener: message.origin.listener.clone(),
                protocol: message.origin.protocol.clone(),
                tls: message.origin.tls,
            },
            held: false,
            recipients,
        };
        let incoming = self.queue.receive(&new)?;
        let id = incoming.id().to_string();
        Ok(Draft { incoming, id })
    }

    /// Makes the message durable; after this the 250 may be sent.
    pub fn commit(&self, draft: Draft) -> Result<QueueId, QueueError> {
        draft.incoming.commit()
    }

    /// Every queued message with when it is due (now for held ones' neighbours; held
    /// messages are left out).
    pub fn scan(&self) -> Result<Vec<(QueueId, Timestamp)>, QueueError> {
        let mut found = Vec::new();
        for id in self.queue.list()? {
            match self.queue.load(id) {
                Ok(envelope) if envelope.held => {}
                Ok(envelope) => {
                    found.push((id, envelope.next_attempt().unwrap_or_else(Timestamp::now)));
                }
                Err(e) => tracing::warn!(queue_id = %id, error = %e, "unreadable queued message"),
            }
        }
        Ok(found)
    }

    pub fn list(&self) -> Result<Vec<QueueId>, QueueError> {
        self.queue.list()
    }

    pub fn load(&self, id: &QueueId) -> Result<Envelope, QueueError> {
        self.queue.load(*id)
    }

    pub fn update(&self, envelope: &Envelope) -> Result<(), QueueError> {
        self.queue.update(envelope)
    }

    pub fn remove(&self, id: &QueueId) -> Result<(), QueueError> {
        self.queue.remove(*id)
    }

    pub fn open_data(&self, id: &QueueId) -> Result<std::fs::File, QueueError> {
        self.queue.open_data(*id)
    }

    /// Queues a failure notice to the sender for the recipients that need one and marks
    /// them on `envelope` (the caller records it). `None`: nothing to report (or a bounce
    /// of a bounce, which is never sent).
    pub fn bounce(
        &self,
        envelope: &mut Envelope,
        hostname: &str,
    ) -> Result<Option<QueueId>, String> {
        let now = Timestamp::now();
        let data = self
            .queue
            .open_data(envelope.id)
            .map_err(|e| e.to_string())?;
        let notice =
            queue::dsn::failure_notice(envelope, std::io::BufReader::new(data), hostname, now)
                .map_err(|e| format!("read queued message: {e}"))?;
        let Some(notice) = notice else {
            return Ok(None);
        };
        let mut incoming = self
            .queue
            .receive(&notice.new_envelope(now))
            .map_err(|e| e.to_string())?;
        incoming
            .write_all(&notice.message)
            .map_err(|e| format!("write bounce: {e}"))?;
        let id = incoming.commit().map_err(|e| e.to_string())?;
        notice.mark_sent(envelope);
        Ok(Some(id))
    }
}
