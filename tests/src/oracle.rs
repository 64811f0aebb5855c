//! mail-auth as an independent DKIM verifier for tests that must not reach DNS: key records
//! come from a preloaded cache.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::{
    AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters, ResolverCache, Txt,
};

/// TXT answers keyed by FQDN; never expires, never asks DNS.
#[derive(Default)]
pub struct TxtCache(Mutex<HashMap<Box<str>, Txt>>);

impl std::fmt::Debug for TxtCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TxtCache")
    }
}

impl TxtCache {
    /// Serves `record` (e.g. "v=DKIM1; k=rsa; p=...") for `selector._domainkey.domain`.
    pub fn add_key(&self, domain: &str, selector: &str, record: &str) {
        let key = DomainKey::parse(record.as_bytes()).unwrap();
        self.0.lock().unwrap().insert(
            format!("{selector}._domainkey.{domain}.").into(),
            Txt::from(key),
        );
    }
}

impl ResolverCache<Box<str>, Txt> for TxtCache {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().get(name).cloned()
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().remove(name)
    }

    fn insert(&self, key: Box<str>, value: Txt, _valid_until: Instant) {
        self.0.lock().unwrap().insert(key, value);
    }
}

/// Polls a future that never waits on I/O (every lookup is a cache hit) to completion.
pub fn run_ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("mail-auth tried to reach DNS: the key was not in the cache"),
    }
}

/// Verifies every DKIM signature of `message` with keys from `cache`; one result each.
pub fn verify(message: &[u8], cache: &TxtCache) -> Vec<DkimResult> {
    let authenticator = MessageAuthenticator::new_cloudflare().unwrap();
    let parsed = AuthenticatedMessage::parse(message).expect("message parses");
    let params = Parameters::new(&parsed).with_txt_cache(cache);
    run_ready(authenticator.verify_dkim(params))
        .into_iter()
        .map(|output| output.result().clone())
        .collect()
}
