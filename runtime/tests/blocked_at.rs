//! Every blocking operation records where its caller blocked: the dump of
//! a parked goroutine names the line of the `recv`, `lock`, `select!`, ...
//! in the user's code, for each primitive, at GOMAXPROCS 1 and 2.

mod common;

use common::with_procs;
use goro::chan;
use goro::sync::{Barrier, Cond, Mutex, Once, RwLock, Semaphore, WaitGroup};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Where a goroutine is about to block: the line of the call it makes on
/// the same line as `at!`.
type Line = Arc<AtomicU32>;

/// Records this line in `$line`, then runs `$op` (written on the same line).
macro_rules! at {
    ($line:expr, $op:expr) => {{
        $line.store(line!(), Ordering::SeqCst);
        $op
    }};
}

/// Waits until the dump shows goroutine `id` parked in `state`.
fn parked_in(id: goro::GoroutineId, state: &str) -> goro::GoroutineInfo {
    loop {
        let parked = goro::dump()
            .into_iter()
            .find(|g| g.id == id && g.state == state);
        if let Some(info) = parked {
            return info;
        }
        std::thread::yield_now();
    }
}

/// Runs `body` in a goroutine, waits until the dump shows it parked in
/// `state`, checks that its blocked-at site is the line `body` recorded,
/// then runs `release` and joins it.
fn expect_blocked_at(
    state: &str,
    body: impl FnOnce(Line) + Send + 'static,
    release: impl FnOnce(),
) {
    let line = Line::default();
    let h = goro::spawn({
        let line = line.clone();
        move || body(line)
    });
    let info = parked_in(h.id(), state);
    let at = info.blocked_at.unwrap_or_else(|| panic!("no site: {info}"));
    assert_eq!(
        (at.file(), at.line()),
        (file!(), line.load(Ordering::SeqCst)),
        "{state}: {info}"
    );
    assert!(
        info.to_string().contains(&format!("blocked at {at}")),
        "{info}"
    );
    release();
    h.join().unwrap();
}

#[rustfmt::skip] // each blocking call stays on the line `at!` records
fn channels() {
    let (tx, rx) = chan::bounded::<u8>(0);
    expect_blocked_at(
        "chan receive",
        move |l| { let _ = at!(l, rx.recv()); },
        || tx.send(1).unwrap(),
    );

    let (tx, rx) = chan::bounded::<u8>(0);
    expect_blocked_at(
        "chan send",
        move |l| at!(l, tx.send(1)).unwrap(),
        move || { let _ = rx.recv(); },
    );

    let (tx, rx) = chan::bounded::<u8>(0);
    let long = Duration::from_secs(3600);
    expect_blocked_at(
        "chan receive",
        move |l| { let _ = at!(l, rx.recv_timeout(long)); },
        || tx.send(1).unwrap(),
    );

    let (tx, rx) = chan::bounded::<u8>(0);
    expect_blocked_at(
        "chan receive",
        move |l| at!(l, for _ in &rx {}),
        || drop(tx),
    );

    // An iterator consumed inside std blocks where it was made.
    let (tx, rx) = chan::bounded::<u8>(0);
    expect_blocked_at(
        "chan receive",
        move |l| at!(l, rx.iter()).for_each(drop),
        || drop(tx),
    );
    let (tx, rx) = chan::bounded::<u8>(0);
    expect_blocked_at(
        "chan receive",
        move |l| assert_eq!(at!(l, rx.into_iter()).sum::<u8>(), 0),
        || drop(tx),
    );

    let (tx, rx) = chan::bounded::<u8>(0);
    let (_tx2, rx2) = chan::bounded::<u8>(0);
    expect_blocked_at(
        "select",
        move |l| {
            at!(l, goro::select! { recv(rx) -> _ => {}, recv(rx2) -> _ => {} })
        },
        || tx.send(1).unwrap(),
    );

    let (tx, rx) = chan::bounded::<u8>(0);
    let (_tx2, rx2) = chan::bounded::<u8>(0);
    expect_blocked_at(
        "select",
        move |l| {
            let mut sel = chan::Select::new();
            let (a, b) = (sel.recv(&rx), sel.recv(&rx2));
            let op = at!(l, sel.select());
            assert_eq!(op.index(), a, "{b}");
            op.recv(&rx).unwrap();
        },
        || tx.send(1).unwrap(),
    );

    let (tx, rx) = chan::bounded::<u8>(0);
    expect_blocked_at(
        "select",
        move |l| { let _ = at!(l, goro::block_on(rx.recv_async())); },
        || tx.send(1).unwrap(),
    );
}

#[rustfmt::skip] // each blocking call stays on the line `at!` records
fn sync() {
    let m = Arc::new(Mutex::new(()));
    let guard = m.lock();
    let m2 = m.clone();
    expect_blocked_at(
        "sync.Mutex.Lock",
        move |l| { let _ = at!(l, m2.lock()); },
        || drop(guard),
    );

    let rw = Arc::new(RwLock::new(()));
    let writer = rw.write();
    let rw2 = rw.clone();
    expect_blocked_at(
        "sync.RWMutex.RLock",
        move |l| { let _ = at!(l, rw2.read()); },
        || drop(writer),
    );
    let reader = rw.read();
    let rw2 = rw.clone();
    expect_blocked_at(
        "sync.RWMutex.Lock",
        move |l| { let _ = at!(l, rw2.write()); },
        || drop(reader),
    );

    let pair = Arc::new((Mutex::new(false), Cond::new()));
    let pair2 = pair.clone();
    expect_blocked_at(
        "sync.Cond.Wait",
        move |l| {
            let (m, c) = &*pair2;
            let mut ready = m.lock();
            while !*ready {
                ready = at!(l, c.wait(ready));
            }
        },
        || {
            *pair.0.lock() = true;
            pair.1.signal();
        },
    );

    let wg = WaitGroup::new();
    wg.add(1);
    let wg2 = wg.clone();
    expect_blocked_at(
        "sync.WaitGroup.Wait",
        move |l| at!(l, wg2.wait()),
        || wg.done(),
    );

    let sem = Arc::new(Semaphore::new(1));
    assert!(sem.try_acquire(1));
    let sem2 = sem.clone();
    expect_blocked_at(
        "semaphore.Acquire",
        move |l| at!(l, sem2.acquire(1)),
        || sem.release(1),
    );

    let barrier = Arc::new(Barrier::new(2));
    let b2 = barrier.clone();
    let mut other = None;
    expect_blocked_at(
        "sync.Barrier.Wait",
        move |l| { let _ = at!(l, b2.wait()); },
        || {
            other = Some(goro::spawn(move || { barrier.wait(); }));
        },
    );
    other.unwrap().join().unwrap();

    let once = Arc::new(Once::new());
    let (tx, rx) = chan::bounded::<()>(0);
    let first = goro::spawn({
        let once = once.clone();
        move || once.call_once(|| { let _ = rx.recv(); })
    });
    // The first caller is inside `call_once` before the second comes.
    parked_in(first.id(), "chan receive");
    expect_blocked_at(
        "sync.Once.Do",
        move |l| at!(l, once.call_once(|| ())),
        || drop(tx),
    );
    first.join().unwrap();
}

#[rustfmt::skip] // each blocking call stays on the line `at!` records
fn the_rest() {
    let (tx, rx) = chan::bounded::<u8>(0);
    let child = goro::spawn(move || { let _ = rx.recv(); });
    expect_blocked_at(
        "join",
        move |l| at!(l, child.join()).unwrap(),
        || tx.send(1).unwrap(),
    );

    let (tx, rx) = std::sync::mpsc::channel::<()>();
    expect_blocked_at(
        "syscall",
        move |l| { let _ = at!(l, goro::blocking(move || rx.recv())); },
        || tx.send(()).unwrap(),
    );

    let listener = goro::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = None;
    expect_blocked_at(
        "IO wait",
        move |l| { let _ = at!(l, listener.accept()).unwrap(); },
        || {
            client = Some(std::net::TcpStream::connect(addr).unwrap());
        },
    );

    let (tx, rx) = chan::bounded::<u8>(0);
    expect_blocked_at(
        "sync.WaitGroup.Wait",
        move |l| at!(l, goro::scope(|s| drop(s.go(|| { let _ = rx.recv(); })))),
        || tx.send(1).unwrap(),
    );
}

#[test]
fn every_blocking_operation_names_its_call_site() {
    for procs in [1, 2] {
        with_procs(procs, || {
            channels();
            sync();
            the_rest();
        });
    }
}

/// A sleeping goroutine is never woken early by the test: it is looked at
/// and left to sleep out its hour when the test process exits.
#[test]
fn a_sleep_names_its_call_site() {
    let line = Line::default();
    let l = line.clone();
    let h = goro::spawn(move || at!(l, goro::sleep(Duration::from_secs(3600))));
    let at = parked_in(h.id(), "sleep").blocked_at.unwrap();
    assert_eq!(
        (at.file(), at.line()),
        (file!(), line.load(Ordering::SeqCst))
    );
}
