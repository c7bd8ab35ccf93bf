//! Under Go's full model (`goro::enable_migration`, the `unsafe` opt-in),
//! a goroutine stuck in an unannotated blocking call or a busy loop never
//! stalls the others: the monitor takes its worker's token, and the
//! goroutines queued there (even the one it woke last, in `runnext`, or
//! those it spawned past its local queue) move to another thread. Every
//! body runs at GOMAXPROCS=1, where a stall would stop everything (the
//! harness reports a hang), and the stuck goroutine is released only after
//! the others finished their work, so nothing depends on timing.
//!
//! Every test here holds nothing thread-bound across a park, which is the
//! opt-in's contract.

mod common;

use common::{ring_of_goroutines, run_at as run_pinned_at};
use goro::chan::{bounded, unbounded};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Runs `body` as a goroutine at GOMAXPROCS=`procs`, with migration on.
fn run_at(procs: usize, body: impl FnOnce() + Send + 'static) {
    // SAFETY: no test of this binary holds anything thread-bound across a
    // park (see the module note).
    unsafe { goro::enable_migration() };
    run_pinned_at(procs, body);
}

/// A server goroutine accepts `clients` connections and echoes a line on
/// each; client goroutines check their answers. Returns the answers.
fn server_answers(clients: usize) -> usize {
    let listener = goro::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    goro::go!(move || {
        for conn in listener.incoming().take(clients) {
            let mut conn = conn.unwrap();
            goro::go!(move || {
                let mut line = [0u8; 8];
                conn.read_exact(&mut line).unwrap();
                conn.write_all(&line).unwrap();
            });
        }
    });
    let (tx, rx) = unbounded();
    for i in 0..clients {
        let tx = tx.clone();
        goro::go!(move || {
            let mut conn = goro::net::TcpStream::connect(addr).unwrap();
            conn.write_all(&(i as u64).to_le_bytes()).unwrap();
            let mut back = [0u8; 8];
            conn.read_exact(&mut back).unwrap();
            tx.send(u64::from_le_bytes(back) as usize == i).unwrap();
        });
    }
    drop(tx);
    rx.iter().filter(|&ok| ok).count()
}

/// Runs `stuck` in a goroutine, waits until it has started, checks that
/// goroutines still run (a ring passing a token) and a server still
/// accepts connections and answers, then releases it.
fn others_run_while(
    stuck: impl FnOnce(&(dyn Fn() + Sync)) + Send + 'static,
    release: impl FnOnce(),
) {
    let (started_tx, started_rx) = bounded::<()>(1);
    let stuck = goro::go!(move || stuck(&|| started_tx.send(()).unwrap()));
    started_rx.recv().unwrap();
    assert_eq!(ring_of_goroutines(50, 20), 50 * 20);
    assert_eq!(server_answers(20), 20);
    release();
    stuck.join().unwrap();
}

/// [`others_run_while`] with a goroutine that calls `pause` in a loop until
/// it is released.
fn others_run_while_looping(pause: fn()) {
    let released = Arc::new(AtomicBool::new(false));
    let r = released.clone();
    others_run_while(
        move |started| {
            started();
            while !r.load(Ordering::SeqCst) {
                pause();
            }
        },
        move || released.store(true, Ordering::SeqCst),
    );
}

#[test]
fn a_thread_sleep_loop_does_not_stall_the_others() {
    run_at(1, || {
        others_run_while_looping(|| std::thread::sleep(std::time::Duration::from_millis(1)))
    });
}

#[test]
fn a_busy_loop_does_not_stall_the_others() {
    run_at(1, || others_run_while_looping(std::hint::spin_loop));
}

#[test]
fn a_blocking_pipe_read_does_not_stall_the_others() {
    run_at(1, || {
        let (mut reader, mut writer) = UnixStream::pair().unwrap();
        others_run_while(
            move |started| {
                started();
                let mut byte = [0u8];
                reader.read_exact(&mut byte).unwrap();
                assert_eq!(byte, [7]);
            },
            move || writer.write_all(&[7]).unwrap(),
        );
    });
}

/// Waits (on the OS thread, as a blocking call or a busy goroutine does)
/// until the monitor has taken a token since it counted `before` retakes.
fn wait_for_retake(before: u64) {
    while goro::metrics().retakes == before {
        std::thread::yield_now();
    }
}

/// Starts a goroutine that waits on a channel and passes on what it
/// receives through a std channel, and waits until it is parked. Returns
/// the sender that wakes it and the std receiver of its answer, on which
/// a blocked OS thread can wait.
fn parked_echo() -> (goro::chan::Sender<u8>, std::sync::mpsc::Receiver<u8>) {
    let (wake_tx, wake_rx) = bounded::<u8>(0);
    let (answer_tx, answer_rx) = std::sync::mpsc::channel();
    let echo = goro::go!(move || answer_tx.send(wake_rx.recv().unwrap()).unwrap());
    common::wait_until_parked(echo.id(), "chan receive");
    (wake_tx, answer_rx)
}

/// As above, for a goroutine stuck in a long run (the monitor takes its
/// token because a goroutine waits in its queue).
#[test]
fn a_goroutine_woken_in_a_long_run_after_the_retake_runs() {
    run_at(1, || {
        let (wake, answer) = parked_echo();
        let before = goro::metrics().retakes;
        let queued = goro::go!(|| ());
        wait_for_retake(before);
        wake.send(4).unwrap();
        assert_eq!(answer.recv(), Ok(4));
        queued.join().unwrap();
    });
}

/// The goroutine a stuck goroutine woke last sits in its worker's
/// `runnext`: another thread must take it from there.
#[test]
fn a_goroutine_woken_just_before_a_busy_loop_runs() {
    run_at(1, || {
        let (tx, rx) = bounded::<usize>(0);
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let woken = goro::go!(move || {
            assert_eq!(rx.recv(), Ok(5));
            r.store(true, Ordering::SeqCst);
        });
        common::wait_until_parked(woken.id(), "chan receive");
        goro::go!(move || {
            tx.send(5).unwrap(); // woken goes into this worker's runnext
            while !ran.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
        })
        .join()
        .unwrap();
        woken.join().unwrap();
    });
}

/// Goroutines a stuck goroutine spawned past its worker's local queue wait
/// in that worker's spill: another thread must take them from there too.
#[test]
fn goroutines_spawned_just_before_a_busy_loop_run() {
    const SPAWNED: usize = 1000; // more than the local queue takes
    run_at(1, || {
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        goro::go!(move || {
            for _ in 0..SPAWNED {
                let r = r.clone();
                goro::go!(move || r.fetch_add(1, Ordering::SeqCst));
            }
            while r.load(Ordering::SeqCst) < SPAWNED {
                std::hint::spin_loop();
            }
        })
        .join()
        .unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), SPAWNED);
    });
}

/// Timers fire while the only worker is stuck: the monitor fires them.
#[test]
fn timers_fire_while_every_worker_is_stuck() {
    run_at(1, || {
        let released = Arc::new(AtomicBool::new(false));
        let r = released.clone();
        let sleeper = goro::go!(move || {
            for _ in 0..5 {
                goro::sleep(std::time::Duration::from_millis(1));
            }
            r.store(true, Ordering::SeqCst);
        });
        let spinner = goro::go!(move || {
            while !released.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
        });
        spinner.join().unwrap();
        sleeper.join().unwrap();
    });
}
