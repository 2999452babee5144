//! The defences of the sign-in door, which anyone can knock on without an account.
//!
//! * [`PasswordChecks`]: argon2 is memory-hard on purpose (19 MiB and tens of milliseconds per
//!   check with the default parameters), so checks run a few at a time (a semaphore sized to
//!   the cores), each in one of a fixed set of buffers that are allocated once and reused: a
//!   login flood queues instead of taking the process's memory, and the memory it used stays
//!   with the server for the next check instead of being left with the allocator.
//! * [`AddressBudget`]: requests to `/api/auth/*` per client address per minute (429 beyond).
//! * [`Lockouts`]: failed sign-ins per client address and name back off (429 for a while), and
//!   a name that fails from many addresses is locked: each attempt at it is then held for a
//!   delay, one at a time, and only the right password (and TOTP code when enrolled) passes.
//!   Both are keyed by the name typed, whether or not such a user exists, so the answers and
//!   their timing are the same for unknown and known users, and nobody can lock anybody out.
//!
//! Addresses are the TCP peer's: behind a reverse proxy every client shares the proxy's
//! address, so put the console behind one only with its own per-client limits.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::Block;
use tokio::sync::Semaphore;

/// Entries a throttle table keeps before it forgets those that have expired (and, if they are
/// all live, everything: the tables must not grow without bound under a flood of names).
const TABLE_CAP: usize = 100_000;

/// Why a password check did not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("too many sign-ins waiting; try again shortly")]
    Busy,
    #[error("password check failed: {0}")]
    Failed(String),
}

/// Argon2 checks, a bounded number at a time, in reused memory.
pub struct PasswordChecks {
    permits: Arc<Semaphore>,
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl PasswordChecks {
    /// `permits` checks at once (at least one); 0 means one per core.
    pub fn new(permits: usize) -> PasswordChecks {
        let n = if permits == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { permits };
        PasswordChecks {
            permits: Arc::new(Semaphore::new(n)),
            memory: Arc::new(Mutex::new(Vec::new())),
            waiting: AtomicUsize::new(0),
            max_waiting: (n * 64).max(256),
        }
    }

    /// Runs `f` on a blocking thread with a permit and a buffer. The permit and the buffer go
    /// with the blocking task (not the request's future), so a client that hangs up cannot
    /// free a permit while its check still holds memory.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, CheckError> {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        let permit = {
            let w = Waiting(&self.waiting);
            if w.0.fetch_add(1, Ordering::Relaxed) >= self.max_waiting {
                return Err(CheckError::Busy);
            }
            self.permits.clone().acquire_owned().await.map_err(|e| CheckError::Failed(e.to_string()))?
        };
        let pool = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            let mut mem = pool.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
            let r = f(&mut mem);
            pool.lock().unwrap_or_else(|e| e.into_inner()).push(mem);
            drop(permit);
            r
        })
        .await
        .map_err(|e| CheckError::Failed(e.to_string()))
    }

    /// Whether `pw` matches the PHC string `phc`.
    pub async fn verify(&self, pw: String, phc: String) -> Result<bool, CheckError> {
        self.run(move |mem| crate::auth::verify_password_in(&pw, &phc, mem)).await
    }

    /// An argon2id PHC string of `pw`.
    pub async fn hash(&self, pw: String) -> Result<String, CheckError> {
        self.run(move |mem| crate::auth::hash_password_in(&pw, mem)).await?.map_err(CheckError::Failed)
    }
}

/// A client address as throttles count it: IPv4 as is, IPv6 by its /64 (one host usually
/// holds a whole /64), an IPv4-mapped IPv6 address as the IPv4 one.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// A name as the lockout tables key it: names longer than any user's are kept as a hash, so
/// an entry stays small whatever was typed.
fn name_key(name: &str) -> String {
    if name.len() <= 64 {
        name.to_string()
    } else {
        crate::auth::sha256_hex(name)
    }
}

/// Forgets expired entries of a throttle table once it is full, and everything if they are
/// all live.
fn prune<K, V>(map: &mut HashMap<K, V>, live: impl Fn(&V) -> bool) {
    if map.len() >= TABLE_CAP {
        map.retain(|_, v| live(v));
        if map.len() >= TABLE_CAP {
            map.clear();
        }
    }
}

/// Requests per client address per minute (a fixed window).
pub struct AddressBudget {
    per_min: u32,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl AddressBudget {
    pub fn new(per_min: u32) -> AddressBudget {
        AddressBudget { per_min, windows: Mutex::new(HashMap::new()) }
    }

    /// Counts one request; `Err(retry after)` beyond the budget.
    pub fn take(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        const WINDOW: Duration = Duration::from_secs(60);
        let mut m = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        prune(&mut m, |(start, _)| now.duration_since(*start) < WINDOW);
        let e = m.entry(client_key(ip)).or_insert((now, 0));
        if now.duration_since(e.0) >= WINDOW {
            *e = (now, 0);
        }
        e.1 = e.1.saturating_add(1);
        if e.1 <= self.per_min {
            Ok(())
        } else {
            Err(WINDOW.saturating_sub(now.duration_since(e.0)))
        }
    }
}

/// Lockout settings (see [`crate::AdminConfig`]).
#[derive(Clone, Copy, Debug)]
pub struct LockoutPolicy {
    /// Failures per address and name before that pair backs off.
    pub attempts: u32,
    /// The first back-off, doubled at each further failure; also how long each attempt at a
    /// locked name is held.
    pub delay: Duration,
    /// The longest back-off, and how long a name stays locked after its last failure.
    pub duration: Duration,
    /// Failures of a name, from any addresses, before the name is locked.
    pub name_attempts: u32,
}

struct PairFailures {
    count: u32,
    last: Instant,
}

struct NameState {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
    /// When the next attempt at a locked name may be looked at.
    next_slot: Instant,
}

/// What [`Lockouts::admit`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Check the credentials now.
    Now,
    /// The name is locked: hold the attempt this long, then check the credentials.
    After(Duration),
    /// Refuse at once (429) with this retry-after.
    Refuse(Duration),
}

/// Failed sign-ins per client address and name, and names locked after failures from many
/// addresses. In memory, except that a lock of a known user is also stored (see
/// [`crate::users::SessionChange::Lock`]), so a restart does not lift it.
pub struct Lockouts {
    policy: LockoutPolicy,
    pairs: Mutex<HashMap<(IpAddr, String), PairFailures>>,
    names: Mutex<HashMap<String, NameState>>,
}

/// Attempts at a locked name that may wait their turn; more are refused at once.
const LOCKED_QUEUE: u32 = 8;

impl Lockouts {
    pub fn new(policy: LockoutPolicy) -> Lockouts {
        Lockouts { policy, pairs: Mutex::new(HashMap::new()), names: Mutex::new(HashMap::new()) }
    }

    fn backoff(&self, count: u32) -> Duration {
        let over = count.saturating_sub(self.policy.attempts).min(20);
        self.policy.delay.saturating_mul(1u32 << over).min(self.policy.duration)
    }

    /// Whether an attempt at `name` from `ip` may be checked, and when.
    pub fn admit(&self, ip: IpAddr, name: &str, now: Instant) -> Admit {
        let key = name_key(name);
        {
            let pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(f) = pairs.get(&(client_key(ip), key.clone())) {
                if f.count >= self.policy.attempts {
                    let until = f.last + self.backoff(f.count);
                    if until > now {
                        return Admit::Refuse(until - now);
                    }
                }
            }
        }
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let Some(n) = names.get_mut(&key) else { return Admit::Now };
        match n.locked_until {
            Some(until) if until > now => {
                let slot = n.next_slot.max(now);
                let hold = slot + self.policy.delay - now;
                if hold > self.policy.delay.saturating_mul(LOCKED_QUEUE) {
                    return Admit::Refuse(hold);
                }
                n.next_slot = slot + self.policy.delay;
                Admit::After(hold)
            }
            _ => Admit::Now,
        }
    }

    /// Counts a failure; `Some(until)` when it locked the name just now.
    pub fn failed(&self, ip: IpAddr, name: &str, now: Instant) -> Option<Instant> {
        let key = name_key(name);
        let window = self.policy.duration;
        {
            let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
            prune(&mut pairs, |f| now.duration_since(f.last) < window);
            let f = pairs.entry((client_key(ip), key.clone())).or_insert(PairFailures { count: 0, last: now });
            if now.duration_since(f.last) >= window {
                f.count = 0;
            }
            f.count = f.count.saturating_add(1);
            f.last = now;
        }
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        prune(&mut names, |n| now.duration_since(n.last) < window || n.locked_until.is_some_and(|u| u > now));
        let n = names.entry(key).or_insert(NameState { count: 0, last: now, locked_until: None, next_slot: now });
        if now.duration_since(n.last) >= window {
            n.count = 0;
        }
        n.count = n.count.saturating_add(1);
        n.last = now;
        let was_locked = n.locked_until.is_some_and(|u| u > now);
        if was_locked || n.count >= self.policy.name_attempts {
            n.locked_until = Some(now + window);
        }
        (!was_locked && n.locked_until.is_some_and(|u| u > now)).then_some(now + window)
    }

    /// A sign-in of `name` from `ip` succeeded: that pair's failures and the name's lock are
    /// forgotten. True when the name was locked.
    pub fn succeeded(&self, ip: IpAddr, name: &str, now: Instant) -> bool {
        let key = name_key(name);
        self.pairs.lock().unwrap_or_else(|e| e.into_inner()).remove(&(client_key(ip), key.clone()));
        let n = self.names.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        n.is_some_and(|n| n.locked_until.is_some_and(|u| u > now))
    }

    /// An administrator lifted every throttle of `name` (re-enabled the user).
    pub fn lift(&self, name: &str) {
        let key = name_key(name);
        self.pairs.lock().unwrap_or_else(|e| e.into_inner()).retain(|(_, n), _| *n != key);
        self.names.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
    }

    /// A lock read back from the store at start.
    pub fn restore(&self, name: &str, until: Instant, now: Instant) {
        let n = NameState { count: self.policy.name_attempts, last: now, locked_until: Some(until), next_slot: now };
        self.names.lock().unwrap_or_else(|e| e.into_inner()).insert(name_key(name), n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> LockoutPolicy {
        LockoutPolicy {
            attempts: 3,
            delay: Duration::from_secs(1),
            duration: Duration::from_secs(60),
            name_attempts: 5,
        }
    }

    #[test]
    fn pairs_back_off_and_names_lock_without_refusing() {
        let l = Lockouts::new(policy());
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.admit(a, "x", t), Admit::Now);
            assert_eq!(l.failed(a, "x", t), None);
        }
        assert_eq!(l.admit(a, "x", t), Admit::Refuse(Duration::from_secs(1)));
        assert_eq!(l.admit(b, "x", t), Admit::Now, "another address is not refused");
        assert_eq!(l.admit(a, "x", t + Duration::from_secs(1)), Admit::Now, "after the back-off");
        assert_eq!(l.failed(b, "x", t), None);
        assert_eq!(l.failed(b, "x", t), Some(t + Duration::from_secs(60)), "the fifth failure locks the name");
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        assert_eq!(l.admit(c, "x", t), Admit::After(Duration::from_secs(1)));
        assert_eq!(l.admit(c, "x", t), Admit::After(Duration::from_secs(2)), "one at a time");
        assert!(l.succeeded(c, "x", t));
        assert_eq!(l.admit(c, "x", t), Admit::Now);
    }

    #[test]
    fn checks_queue_and_reuse_their_memory() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        rt.block_on(async {
            let c = Arc::new(PasswordChecks::new(2));
            let h = c.hash("pw".into()).await.unwrap();
            let tasks: Vec<_> = (0..8)
                .map(|i| {
                    let (c, h) = (c.clone(), h.clone());
                    tokio::spawn(async move { c.verify(if i % 2 == 0 { "pw" } else { "no" }.into(), h).await })
                })
                .collect();
            for (i, t) in tasks.into_iter().enumerate() {
                assert_eq!(t.await.unwrap().unwrap(), i % 2 == 0);
            }
            assert!(c.memory.lock().unwrap().len() <= 2, "never more buffers than permits");
        });
    }
}
