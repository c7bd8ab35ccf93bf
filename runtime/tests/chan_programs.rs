//! Whole Go programs on channels: the daisy chain (test/chan/goroutines.go),
//! the prime sieve (sieve1.go), a smaller faithful port of the power-series
//! program (powser1.go), runtime/chan_test.go's TestMultiConsumer and
//! TestNonblockRecvRace, and counting stress tests. Every test runs its body
//! at GOMAXPROCS=1 and 4.

mod common;

use common::{at_procs, thread};
use goro::chan::{bounded, unbounded, Receiver, Select, Sender};
use goro::sync::WaitGroup;
use goro::{go, select};

/// test/chan/goroutines.go: 10,000 goroutines in a chain, each passing
/// one value from its right to its left neighbour.
#[test]
fn daisy_chain_10000() {
    at_procs(|| {
        const N: usize = 10_000;
        let (leftmost_tx, leftmost) = bounded::<usize>(0);
        let mut left = leftmost_tx;
        for _ in 0..N {
            let (right_tx, right_rx) = bounded::<usize>(0);
            go!(move || left.send(right_rx.recv().unwrap() + 1).unwrap());
            left = right_tx;
        }
        go!(move || left.send(1).unwrap());
        assert_eq!(leftmost.recv(), Ok(N + 1));
    });
}

/// The benchmark's daisy chain: values forwarded through 1,000 links with
/// `for v := range left`, then closed down the chain.
#[test]
fn daisy_chain_with_close() {
    at_procs(|| {
        const N: usize = 1000;
        let (first, mut left) = bounded::<usize>(0);
        for _ in 0..N {
            let (right_tx, right_rx) = bounded::<usize>(0);
            go!(move || left.iter().for_each(|v| right_tx.send(v + 1).unwrap()));
            left = right_rx;
        }
        let feed = first.clone();
        go!(move || (0..50).for_each(|i| feed.send(i).unwrap()));
        for i in 0..50 {
            assert_eq!(left.recv(), Ok(i + N));
        }
        first.close();
        assert!(left.recv().is_err());
    });
}

/// sieve1.go: the concurrent prime sieve; the first 200 primes.
#[test]
fn prime_sieve() {
    fn generate(ch: Sender<usize>) {
        for i in 2.. {
            if ch.send(i).is_err() {
                return;
            }
        }
    }
    fn filter(input: Receiver<usize>, out: Sender<usize>, prime: usize) {
        for i in input {
            if i % prime != 0 && out.send(i).is_err() {
                return;
            }
        }
    }
    at_procs(|| {
        let (tx, mut ch) = bounded(0);
        go!(generate(tx));
        let mut primes = Vec::new();
        for _ in 0..200 {
            let prime = ch.recv().unwrap();
            primes.push(prime);
            let (out, next) = bounded(0);
            go!(filter(ch, out, prime));
            ch = next;
        }
        let want: Vec<usize> = (2..)
            .filter(|n| (2..*n).take_while(|d| d * d <= *n).all(|d| n % d != 0))
            .take(200)
            .collect();
        assert_eq!(primes, want);
        // Dropping the last receiver unwinds the whole chain.
    });
}

/// powser1.go, smaller: power series as demand-driven streams of
/// rationals (a consumer sends a request, the producer answers with the
/// next coefficient). Go's checks of Ones, Add, Sub, Cmul, Diff, Integ,
/// Mul, Exp and ATan, with Go's structure: `getn` selects over sends of
/// requests and receives of answers, `dosplit` selects which output asked
/// first and hands the rest on to a new goroutine.
mod powser {
    use super::*;

    /// A rational; `den == 0` marks the end of a finite series (`finis`).
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub struct Rat(i64, i64);

    pub const FINIS: Rat = Rat(0, 0);
    pub const ZERO: Rat = Rat(0, 1);
    pub const ONE: Rat = Rat(1, 1);

    fn gcd(a: i64, b: i64) -> i64 {
        if b == 0 {
            a.abs()
        } else {
            gcd(b, a % b)
        }
    }

    pub fn rat(num: i64, den: i64) -> Rat {
        if den == 0 {
            return FINIS;
        }
        let g = gcd(num, den) * den.signum();
        Rat(num / g, den / g)
    }

    fn end(u: Rat) -> bool {
        u.1 == 0
    }

    fn add(u: Rat, v: Rat) -> Rat {
        rat(u.0 * v.1 + v.0 * u.1, u.1 * v.1)
    }

    fn mul(u: Rat, v: Rat) -> Rat {
        rat(u.0 * v.0, u.1 * v.1)
    }

    /// The consumer's end of a series.
    #[derive(Clone)]
    pub struct Ps {
        req: Sender<()>,
        dat: Receiver<Rat>,
    }

    /// The producer's end of a series.
    #[derive(Clone)]
    pub struct Out {
        req: Receiver<()>,
        dat: Sender<Rat>,
    }

    fn mk_ps() -> (Out, Ps) {
        let (req_tx, req_rx) = bounded(0);
        let (dat_tx, dat_rx) = bounded(0);
        (
            Out {
                req: req_rx,
                dat: dat_tx,
            },
            Ps {
                req: req_tx,
                dat: dat_rx,
            },
        )
    }

    pub fn get(u: &Ps) -> Option<Rat> {
        u.req.send(()).ok()?;
        u.dat.recv().ok()
    }

    /// Go's `getn` for two series: ask both and collect both answers, in
    /// whatever order the producers are ready.
    fn get2(u: &Ps, v: &Ps) -> Option<[Rat; 2]> {
        let ins = [u, v];
        let (mut asked, mut got) = ([false; 2], [None; 2]);
        for _ in 0..4 {
            let mut sel = Select::new();
            let mut cases = Vec::new();
            for (i, ps) in ins.iter().enumerate() {
                if !asked[i] {
                    cases.push((sel.send(&ps.req), i, true));
                } else if got[i].is_none() {
                    cases.push((sel.recv(&ps.dat), i, false));
                }
            }
            let oper = sel.select();
            let &(_, i, is_req) = cases.iter().find(|c| c.0 == oper.index())?;
            if is_req {
                oper.send(&ins[i].req, ()).ok()?;
                asked[i] = true;
            } else {
                got[i] = Some(oper.recv(&ins[i].dat).ok()?);
            }
        }
        Some([got[0]?, got[1]?])
    }

    fn put(r: Rat, z: &Out) -> Option<()> {
        z.req.recv().ok()?;
        z.dat.send(r).ok()
    }

    fn copy(u: &Ps, z: &Out) -> Option<()> {
        loop {
            z.req.recv().ok()?;
            z.dat.send(get(u)?).ok()?;
        }
    }

    fn spawn(body: impl FnOnce() -> Option<()> + Send + 'static) {
        go!(move || {
            body();
        });
    }

    /// Go's `dosplit`: serve the output that asks first, pass the input's
    /// next value to both outputs, and leave the following one to a new
    /// goroutine, released when this one is done.
    fn dosplit(input: Ps, mut out: [Out; 2], wait: Receiver<()>) -> Option<()> {
        let mut both = false;
        select! {
            recv(out[0].req) -> r => r.ok()?,
            recv(wait) -> w => {
                w.ok()?;
                both = true;
                select! {
                    recv(out[0].req) -> r => r.ok()?,
                    recv(out[1].req) -> r => {
                        r.ok()?;
                        out.swap(0, 1);
                    }
                }
            }
        }
        input.req.send(()).ok()?;
        let (release_tx, release_rx) = bounded(0);
        let (next_in, next_out) = (input.clone(), out.clone());
        spawn(move || dosplit(next_in, next_out, release_rx));
        let dat = input.dat.recv().ok()?;
        out[0].dat.send(dat).ok()?;
        if !both {
            wait.recv().ok()?;
        }
        out[1].req.recv().ok()?;
        out[1].dat.send(dat).ok()?;
        release_tx.send(()).ok()
    }

    fn split_into(input: Ps, out: [Out; 2]) {
        let (release_tx, release_rx) = bounded(0);
        spawn(move || dosplit(input, out, release_rx));
        release_tx.send(()).unwrap();
    }

    fn split(input: Ps) -> [Ps; 2] {
        let ((o0, p0), (o1, p1)) = (mk_ps(), mk_ps());
        split_into(input, [o0, o1]);
        [p0, p1]
    }

    pub fn rep(c: Rat) -> Ps {
        let (z, ps) = mk_ps();
        spawn(move || loop {
            put(c, &z)?;
        });
        ps
    }

    pub fn add_ps(u: Ps, v: Ps) -> Ps {
        let (z, ps) = mk_ps();
        spawn(move || loop {
            z.req.recv().ok()?;
            let [a, b] = get2(&u, &v)?;
            match (end(a), end(b)) {
                (false, false) => z.dat.send(add(a, b)).ok()?,
                (true, false) => {
                    z.dat.send(b).ok()?;
                    copy(&v, &z)?;
                }
                (false, true) => {
                    z.dat.send(a).ok()?;
                    copy(&u, &z)?;
                }
                (true, true) => z.dat.send(FINIS).ok()?,
            }
        });
        ps
    }

    pub fn cmul(c: Rat, u: Ps) -> Ps {
        let (z, ps) = mk_ps();
        spawn(move || {
            loop {
                z.req.recv().ok()?;
                let v = get(&u)?;
                if end(v) {
                    break;
                }
                z.dat.send(mul(c, v)).ok()?;
            }
            z.dat.send(FINIS).ok()
        });
        ps
    }

    pub fn sub(u: Ps, v: Ps) -> Ps {
        add_ps(u, cmul(rat(-1, 1), v))
    }

    pub fn diff(u: Ps) -> Ps {
        let (z, ps) = mk_ps();
        spawn(move || {
            z.req.recv().ok()?;
            let first = get(&u)?;
            if !end(first) {
                for i in 1.. {
                    let v = get(&u)?;
                    if end(v) {
                        z.dat.send(FINIS).ok()?;
                        break;
                    }
                    z.dat.send(mul(rat(i, 1), v)).ok()?;
                    z.req.recv().ok()?;
                }
            }
            z.dat.send(FINIS).ok()
        });
        ps
    }

    pub fn integ(c: Rat, u: Ps) -> Ps {
        let (z, ps) = mk_ps();
        spawn(move || {
            put(c, &z)?;
            for i in 1.. {
                z.req.recv().ok()?;
                let v = get(&u)?;
                z.dat.send(mul(rat(1, i), v)).ok()?;
                if end(v) {
                    break;
                }
            }
            z.dat.send(FINIS).ok()
        });
        ps
    }

    /// U*V = u*v + x*(u*VV + v*UU) + x*x*UU*VV, for U = u + x*UU and
    /// V = v + x*VV.
    pub fn mul_ps(u: Ps, v: Ps) -> Ps {
        let (z, ps) = mk_ps();
        spawn(move || {
            z.req.recv().ok()?;
            let [a, b] = get2(&u, &v)?;
            if end(a) || end(b) {
                return z.dat.send(FINIS).ok();
            }
            z.dat.send(mul(a, b)).ok()?;
            let [uu0, uu1] = split(u);
            let [vv0, vv1] = split(v);
            let w = add_ps(cmul(a, vv0), cmul(b, uu0));
            z.req.recv().ok()?;
            z.dat.send(get(&w)?).ok()?;
            copy(&add_ps(w, mul_ps(uu1, vv1)), &z)
        });
        ps
    }

    /// exp(U) for U with constant term 0: Z = integral of Z*U'.
    pub fn exp(u: Ps) -> Ps {
        let ((o0, p0), (o1, p1)) = (mk_ps(), mk_ps());
        split_into(integ(ONE, mul_ps(p0, diff(u))), [o0, o1]);
        p1
    }

    /// U(c * x^n).
    pub fn mon_subst(u: Ps, c0: Rat, n: usize) -> Ps {
        let (z, ps) = mk_ps();
        spawn(move || {
            let mut c = ONE;
            loop {
                z.req.recv().ok()?;
                let v = get(&u)?;
                z.dat.send(mul(v, c)).ok()?;
                c = mul(c, c0);
                if end(v) {
                    return z.dat.send(FINIS).ok();
                }
                for _ in 1..n {
                    put(ZERO, &z)?;
                }
            }
        });
        ps
    }
}

#[test]
fn power_series() {
    use powser::*;
    fn check(u: &Ps, want: &[Rat], what: &str) {
        for (i, w) in want.iter().enumerate() {
            assert_eq!(get(u), Some(*w), "{what}: term {i}");
        }
    }
    at_procs(|| {
        const N: usize = 10;
        let ones = rep(ONE);
        let twos = rep(rat(2, 1));
        check(&ones, &[ONE; 5], "Ones");
        check(
            &add_ps(ones.clone(), ones.clone()),
            &[rat(2, 1); N],
            "Add Ones Ones",
        );
        check(
            &add_ps(ones.clone(), twos.clone()),
            &[rat(3, 1); N],
            "Add Ones Twos",
        );
        let a: Vec<Rat> = (1..=N as i64).map(|i| rat(i, 1)).collect();
        check(&diff(ones.clone()), &a, "Diff");
        let a: Vec<Rat> = (0..N as i64)
            .map(|i| if i == 0 { ZERO } else { rat(1, i) })
            .collect();
        check(&integ(ZERO, ones.clone()), &a, "Integ");
        check(&cmul(rat(-1, 1), twos.clone()), &[rat(-2, 1); N], "CMul");
        check(
            &sub(ones.clone(), twos.clone()),
            &[rat(-1, 1); N],
            "Sub Ones Twos",
        );
        let a: Vec<Rat> = (1..=N as i64).map(|i| rat(i, 1)).collect();
        check(&mul_ps(ones.clone(), ones.clone()), &a, "Mul");
        // exp(x / (1 - x)): L(n) / n!, L = OEIS A000262.
        let e = [
            rat(1, 1),
            rat(1, 1),
            rat(3, 2),
            rat(13, 6),
            rat(73, 24),
            rat(167, 40),
            rat(4051, 720),
            rat(37633, 5040),
            rat(43817, 4480),
            rat(4596553, 362880),
        ];
        check(&exp(ones.clone()), &e, "Exp");
        let mut c = 1;
        let a: Vec<Rat> = (0..N as i64)
            .map(|i| {
                if i % 2 == 0 {
                    ZERO
                } else {
                    let r = rat(c, i);
                    c = -c;
                    r
                }
            })
            .collect();
        check(&integ(ZERO, mon_subst(ones, rat(-1, 1), 2)), &a, "ATan");
    });
}

/// runtime/chan_test.go TestMultiConsumer: 23 workers move values from q
/// to r (some yield to upset the FIFO-ish order); count and sum checked.
#[test]
fn multi_consumer() {
    at_procs(|| {
        const NWORK: usize = 23;
        const NITER: usize = 20_000;
        const PN: [usize; 10] = [2, 3, 7, 11, 13, 17, 19, 23, 27, 31];
        let (q_tx, q_rx) = bounded::<usize>(NWORK * 3);
        let (r_tx, r_rx) = bounded::<usize>(NWORK * 3);
        let wg = WaitGroup::new();
        for w in 0..NWORK {
            wg.add(1);
            let (q, r, wg) = (q_rx.clone(), r_tx.clone(), wg.clone());
            go!(move || {
                for v in &q {
                    if PN[w % PN.len()] == v {
                        goro::yield_now();
                    }
                    r.send(v).unwrap();
                }
                wg.done();
            });
        }
        drop(q_rx);
        let feeder = go!(move || {
            let mut expect = 0;
            for i in 0..NITER {
                let v = PN[i % PN.len()];
                expect += v;
                q_tx.send(v).unwrap();
            }
            q_tx.close();
            wg.wait();
            r_tx.close();
            expect
        });
        let (mut n, mut s) = (0, 0);
        for v in &r_rx {
            n += 1;
            s += v;
        }
        assert_eq!((n, s), (NITER, feeder.join().unwrap()));
    });
}

/// runtime/chan_test.go TestNonblockRecvRace: a buffered channel holding a
/// value is closed while a goroutine polls it; the poll must see it ready.
#[test]
fn nonblock_recv_race() {
    at_procs(|| {
        for _ in 0..2000 {
            let (s, r) = bounded::<i32>(1);
            s.send(1).unwrap();
            let h = go!(move || select! {
                recv(r) -> _ => true,
                default => false,
            });
            s.close();
            assert!(h.join().unwrap(), "chan is not ready");
        }
    });
}

/// Many producers and consumers on every kind of channel: every value
/// sent is received exactly once (count, sum and a per-value check).
#[test]
fn mpmc_counting_stress() {
    at_procs(|| {
        for cap in [0, 1, 8, 1024, usize::MAX] {
            const P: usize = 4;
            const C: usize = 4;
            const PER: usize = 5000;
            let (s, r) = if cap == usize::MAX {
                unbounded()
            } else {
                bounded(cap)
            };
            let producers: Vec<_> = (0..P)
                .map(|p| {
                    let s = s.clone();
                    go!(move || (0..PER).for_each(|i| s.send(p * PER + i).unwrap()))
                })
                .collect();
            drop(s);
            let consumers: Vec<_> = (0..C)
                .map(|_| {
                    let r = r.clone();
                    go!(move || r.iter().collect::<Vec<usize>>())
                })
                .collect();
            drop(r);
            producers.into_iter().for_each(|h| h.join().unwrap());
            let mut seen = vec![false; P * PER];
            let mut n = 0;
            for v in consumers.into_iter().flat_map(|h| h.join().unwrap()) {
                assert!(!seen[v], "{v} received twice (cap {cap})");
                seen[v] = true;
                n += 1;
            }
            assert_eq!(n, P * PER, "cap {cap}");
        }
    });
}

/// Ping-pong between a goroutine and an OS thread over unbuffered and
/// buffered channels: no wakeup is lost in either direction.
#[test]
fn goroutine_thread_pingpong() {
    at_procs(|| {
        for cap in [0, 1] {
            let (ping_tx, ping_rx) = bounded::<usize>(cap);
            let (pong_tx, pong_rx) = bounded::<usize>(cap);
            let t = thread(move || {
                for v in &ping_rx {
                    pong_tx.send(v + 1).unwrap();
                }
            });
            for i in 0..5000 {
                ping_tx.send(i).unwrap();
                assert_eq!(pong_rx.recv(), Ok(i + 1));
            }
            drop(ping_tx);
            t.join().unwrap();
        }
    });
}

/// Close racing with blocked senders, blocked receivers and selects: every
/// value is either received or handed back to its sender, exactly once.
#[test]
fn close_race_counting() {
    at_procs(|| {
        for round in 0..50 {
            let cap = round % 3;
            let (s, r) = bounded::<usize>(cap);
            let (back_tx, back_rx) = unbounded();
            let senders: Vec<_> = (0..4)
                .map(|p| {
                    let (s, back_tx) = (s.clone(), back_tx.clone());
                    go!(move || {
                        for i in 0..50 {
                            let v = p * 50 + i;
                            if let Err(e) = s.send(v) {
                                back_tx.send(e.into_inner()).unwrap();
                            }
                        }
                    })
                })
                .collect();
            drop(back_tx);
            let receivers: Vec<_> = (0..3)
                .map(|k| {
                    let r = r.clone();
                    go!(move || {
                        let mut got = Vec::new();
                        loop {
                            let m = if k == 0 {
                                select! { recv(r) -> m => m }
                            } else {
                                r.recv()
                            };
                            match m {
                                Ok(v) => got.push(v),
                                Err(_) => return got,
                            }
                        }
                    })
                })
                .collect();
            // Close part-way through.
            for _ in 0..round {
                goro::yield_now();
            }
            s.close();
            senders.into_iter().for_each(|h| h.join().unwrap());
            let mut all: Vec<usize> = receivers
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect();
            all.extend(back_rx.iter());
            all.sort();
            assert_eq!(all, (0..200).collect::<Vec<_>>(), "round {round}");
        }
    });
}
