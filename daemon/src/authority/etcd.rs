//! The epoch in etcd (`[authority] kind = "etcd"`, `docs/authority.md`).
//!
//! Two keys under the configured prefix: `<prefix>/epoch`, the pair's
//! current epoch as a decimal number, written only by a compare-and-swap
//! transaction that raises it; and `<prefix>/holder`, who took it, attached
//! to the holder's etcd lease, so it disappears when the holder stopped
//! keeping the lease alive for the TTL. The holder confirms that its epoch
//! is still the current one with a transaction comparing the epoch key's
//! modification revision with the one its own write produced: a success is
//! a linearizable "nobody took the next epoch before this moment".
use std::time::Duration;

use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, EventType, Identity, PutOptions, TlsOptions, Txn, TxnOp, TxnOpResponse,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::EtcdAuthority as Settings;

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("cannot read {path} (etcd {what})")]
    ReadFile {
        path: std::path::PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("etcd at {endpoints}: {what}")]
    Etcd {
        endpoints: String,
        what: &'static str,
        #[source]
        source: etcd_client::Error,
    },
    #[error("etcd at {endpoints}: key {key} holds {value:?}, not an epoch number: the key prefix is shared with something else")]
    NotAnEpoch { endpoints: String, key: String, value: String },
}

/// Who holds the epoch, as written into `<prefix>/holder`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub name: String,
    pub epoch: u32,
}

/// The authority's state in etcd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Current {
    /// 0 when no epoch was ever taken under this prefix.
    pub epoch: u32,
    /// `None` once the holder's lease expired (or nobody ever held it).
    pub holder: Option<Holder>,
}

/// How a node asks for the next epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Campaign {
    /// A standby whose detector fired and whose promise ran out: it takes
    /// the epoch even though the old holder's record may still be there.
    Takeover,
    /// A node starting without having heard a primary: only when nobody
    /// holds the epoch (the last holder's lease expired).
    Start,
}

/// An epoch this node took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Won {
    pub epoch: u32,
    /// The epoch key's modification revision our write produced.
    pub revision: i64,
    pub lease: i64,
}

/// What a campaign got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Won(Won),
    /// Somebody else's epoch is current (or, for [`Campaign::Start`], holds it).
    Lost(Current),
}

/// What a confirmation found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// Our epoch is still the current one.
    Current,
    /// A newer epoch was taken: silence the card.
    Newer(u32),
}

pub struct Etcd {
    client: Client,
    endpoints: String,
    epoch_key: String,
    holder_key: String,
    name: String,
    lease_ttl_s: i64,
}

fn read_file(path: &std::path::Path, what: &'static str) -> Result<Vec<u8>, EtcdError> {
    std::fs::read(path).map_err(|source| EtcdError::ReadFile { path: path.to_path_buf(), what, source })
}

impl Etcd {
    /// Connects (TLS and credentials as configured). `name` is written as
    /// the holder when this node takes an epoch.
    pub async fn connect(s: &Settings, name: &str) -> Result<Etcd, EtcdError> {
        let endpoints = s.endpoints.join(",");
        let mut options = ConnectOptions::new().with_connect_timeout(s.request_timeout).with_timeout(s.request_timeout);
        if let Some(ca) = &s.ca_file {
            let mut tls = TlsOptions::new().ca_certificate(Certificate::from_pem(read_file(ca, "CA certificate")?));
            if let (Some(cert), Some(key)) = (&s.cert_file, &s.key_file) {
                tls = tls.identity(Identity::from_pem(read_file(cert, "client certificate")?, read_file(key, "client key")?));
            }
            options = options.with_tls(tls);
        }
        if let (Some(user), Some(pw)) = (&s.user, &s.password_file) {
            let password = String::from_utf8_lossy(&read_file(pw, "password")?).trim().to_string();
            options = options.with_user(user.clone(), password);
        }
        let client = Client::connect(&s.endpoints, Some(options))
            .await
            .map_err(|source| EtcdError::Etcd { endpoints: endpoints.clone(), what: "connecting", source })?;
        let prefix = s.key_prefix.trim_end_matches('/');
        Ok(Etcd {
            client,
            endpoints,
            epoch_key: format!("{prefix}/epoch"),
            holder_key: format!("{prefix}/holder"),
            name: name.to_string(),
            lease_ttl_s: i64::from(s.lease_ttl_s),
        })
    }

    fn fail(&self, what: &'static str) -> impl FnOnce(etcd_client::Error) -> EtcdError + '_ {
        move |source| EtcdError::Etcd { endpoints: self.endpoints.clone(), what, source }
    }

    fn parse_epoch(&self, value: &[u8]) -> Result<u32, EtcdError> {
        std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()).ok_or_else(|| EtcdError::NotAnEpoch {
            endpoints: self.endpoints.clone(),
            key: self.epoch_key.clone(),
            value: String::from_utf8_lossy(value).into_owned(),
        })
    }

    /// The epoch and its holder now: both keys read in one transaction, so
    /// they come from the same revision.
    pub async fn current(&self) -> Result<Current, EtcdError> {
        let resp = self.client.kv_client().txn(Txn::new().and_then(self.read_both())).await.map_err(self.fail("reading the epoch and holder"))?;
        self.current_from(resp.op_responses())
    }

    fn read_both(&self) -> Vec<TxnOp> {
        vec![TxnOp::get(self.epoch_key.as_str(), None), TxnOp::get(self.holder_key.as_str(), None)]
    }

    /// Parses the answers of [`Etcd::read_both`]'s two reads.
    fn current_from(&self, answers: Vec<TxnOpResponse>) -> Result<Current, EtcdError> {
        let mut gets = answers.into_iter().filter_map(|op| match op {
            TxnOpResponse::Get(get) => Some(get),
            _ => None,
        });
        let (epoch, holder) = (gets.next(), gets.next());
        let epoch = match epoch.as_ref().and_then(|g| g.kvs().first()) {
            Some(kv) => self.parse_epoch(kv.value())?,
            None => 0,
        };
        // A holder record we cannot parse is somebody's: report it unnamed.
        let holder = holder
            .as_ref()
            .and_then(|g| g.kvs().first())
            .map(|kv| serde_json::from_slice(kv.value()).unwrap_or(Holder { name: String::from_utf8_lossy(kv.value()).into_owned(), epoch: 0 }));
        Ok(Current { epoch, holder })
    }

    /// Asks for epoch `max(etcd's, known_here) + 1` in one transaction that
    /// succeeds only if the epoch key still holds what we read (and, for
    /// [`Campaign::Start`], nobody holds it). Epochs in etcd only grow.
    pub async fn campaign(&self, how: Campaign, known_here: u32) -> Result<Outcome, EtcdError> {
        let mut kv = self.client.kv_client();
        let read = kv.get(self.epoch_key.as_str(), None).await.map_err(self.fail("reading the epoch"))?;
        let (in_etcd, unchanged) = match read.kvs().first() {
            Some(k) => (self.parse_epoch(k.value())?, Compare::mod_revision(self.epoch_key.as_str(), CompareOp::Equal, k.mod_revision())),
            None => (0, Compare::create_revision(self.epoch_key.as_str(), CompareOp::Equal, 0)),
        };
        let epoch = crate::authority::rules::RULES.next_epoch(in_etcd, known_here);
        let mut lease = self.client.lease_client();
        let granted = lease.grant(self.lease_ttl_s, None).await.map_err(self.fail("granting a lease"))?;
        let mut conditions = vec![unchanged];
        if how == Campaign::Start {
            conditions.push(Compare::version(self.holder_key.as_str(), CompareOp::Equal, 0));
        }
        let holder = serde_json::to_vec(&Holder { name: self.name.clone(), epoch }).unwrap_or_default();
        // A lost transaction reports the keys as it found them: read later,
        // the holder's lease may have run out in between.
        let txn = Txn::new()
            .when(conditions)
            .and_then(vec![
                TxnOp::put(self.epoch_key.as_str(), epoch.to_string(), None),
                TxnOp::put(self.holder_key.as_str(), holder, Some(PutOptions::new().with_lease(granted.id()))),
            ])
            .or_else(self.read_both());
        let resp = kv.txn(txn).await.map_err(self.fail("the epoch transaction"))?;
        if !resp.succeeded() {
            // Nothing was attached to the lease: give it back.
            let _ = lease.revoke(granted.id()).await;
            return Ok(Outcome::Lost(self.current_from(resp.op_responses())?));
        }
        let revision = resp.header().map(|h| h.revision()).unwrap_or_default();
        tracing::warn!(epoch, revision, holder = %self.name, "authority: took the epoch in etcd");
        Ok(Outcome::Won(Won { epoch, revision, lease: granted.id() }))
    }

    /// Is `won` still the current epoch? A success is linearizable: etcd
    /// applied it after every earlier campaign.
    pub async fn confirm(&self, won: Won) -> Result<Confirmation, EtcdError> {
        let txn = Txn::new()
            .when(vec![Compare::mod_revision(self.epoch_key.as_str(), CompareOp::Equal, won.revision)])
            .or_else(vec![TxnOp::get(self.epoch_key.as_str(), None)]);
        let resp = self.client.kv_client().txn(txn).await.map_err(self.fail("confirming the epoch"))?;
        if resp.succeeded() {
            return Ok(Confirmation::Current);
        }
        for op in resp.op_responses() {
            if let TxnOpResponse::Get(get) = op {
                if let Some(k) = get.kvs().first() {
                    return Ok(Confirmation::Newer(self.parse_epoch(k.value())?));
                }
            }
        }
        // The key is gone (deleted by hand): nobody can be sure of anything;
        // the holder stops speaking on confirmations.
        Ok(Confirmation::Newer(won.epoch.saturating_add(1)))
    }

    /// Keeps the holder's lease alive every third of its TTL until the
    /// task is dropped; reports each answer's remaining TTL (seconds), or
    /// the error, on the channel.
    pub fn keep_alive(&self, won: Won) -> (tokio::task::JoinHandle<()>, mpsc::Receiver<Result<i64, String>>) {
        let (tx, rx) = mpsc::channel(4);
        let mut lease = self.client.lease_client();
        let every = Duration::from_millis((self.lease_ttl_s as u64 * 1000 / 3).max(100));
        let task = tokio::spawn(async move {
            loop {
                let answer = async {
                    let (mut keeper, mut stream) = lease.keep_alive(won.lease).await?;
                    loop {
                        keeper.keep_alive().await?;
                        match stream.message().await? {
                            Some(r) if r.ttl() > 0 => {
                                if tx.send(Ok(r.ttl())).await.is_err() {
                                    return Ok(());
                                }
                            }
                            _ => return Err(etcd_client::Error::LeaseKeepAliveError("the lease expired".into())),
                        }
                        tokio::time::sleep(every).await;
                    }
                }
                .await;
                match answer {
                    Ok(()) => return,
                    Err(e) => {
                        if tx.send(Err(e.to_string())).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(every).await;
                    }
                }
            }
        });
        (task, rx)
    }

    /// Every epoch written to the epoch key from now on.
    pub async fn watch_epoch(&self) -> Result<mpsc::Receiver<u32>, EtcdError> {
        let mut stream = self.client.watch_client().watch(self.epoch_key.as_str(), None).await.map_err(self.fail("watching the epoch"))?;
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            while let Ok(Some(resp)) = stream.message().await {
                for ev in resp.events() {
                    let epoch = ev.kv().and_then(|kv| std::str::from_utf8(kv.value()).ok()?.parse().ok());
                    if let (EventType::Put, Some(epoch)) = (ev.event_type(), epoch) {
                        if tx.send(epoch).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Ok(rx)
    }
}
