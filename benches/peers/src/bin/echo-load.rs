//! `echo-load`: the TCP load generator of `benches/compare.py --servers`.
//!
//! ```text
//! echo-load ADDR [--conns N] [--duration SECS] [--size BYTES]
//! echo-load ADDR --hold N [--http]
//! ```
//!
//! Load mode opens N connections (all of them before the clock starts),
//! then each sends a SIZE-byte message, waits for all of it to come back,
//! and sends the next, until DURATION is over; prints one JSON line:
//! `{"conns":..,"size":..,"seconds":..,"msgs":..,"msgs_per_s":..,
//! "p50_us":..,"p99_us":..,"errors":..}` (round-trip latency percentiles).
//!
//! Hold mode opens N connections and leaves them idle (with `--http`, each
//! first makes one GET / request and reads the response, so it is an idle
//! keep-alive connection); prints `{"held":N,"open_ms":..}` once all are
//! open, holds them until standard input closes, then exits. The runner
//! reads the server's RSS meanwhile.
//!
//! Threads: the CPUs this process may run on (one: a current-thread runtime). The open-files limit is
//! raised to its hard limit; connections close with SO_LINGER 0 (no
//! TIME_WAIT), so repeated runs do not run out of local ports.

use goro_peers::raise_nofile;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

struct Args {
    addr: String,
    conns: usize,
    seconds: f64,
    size: usize,
    hold: Option<usize>,
    http: bool,
}

fn usage(why: &str) -> ! {
    eprintln!("echo-load: {why}");
    eprintln!("usage: echo-load ADDR [--conns N] [--duration SECS] [--size BYTES]");
    eprintln!("       echo-load ADDR --hold N [--http]");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let addr = it.next().unwrap_or_else(|| usage("no address"));
    let mut a = Args {
        addr,
        conns: 1000,
        seconds: 5.0,
        size: 64,
        hold: None,
        http: false,
    };
    while let Some(flag) = it.next() {
        if flag == "--http" {
            a.http = true;
            continue;
        }
        let val = it
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--conns" => a.conns = num(&flag, &val),
            "--duration" => a.seconds = num(&flag, &val),
            "--size" => a.size = num(&flag, &val),
            "--hold" => a.hold = Some(num(&flag, &val)),
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    if a.conns == 0
        || a.size == 0
        || !a.seconds.is_finite()
        || a.seconds <= 0.0
        || a.hold == Some(0)
    {
        usage("--conns, --size, --duration and --hold must be positive");
    }
    a
}

fn num<T: std::str::FromStr>(flag: &str, val: &str) -> T {
    val.parse()
        .unwrap_or_else(|_| usage(&format!("bad value for {flag}: {val}")))
}

fn main() {
    let args = parse_args();
    let limit = raise_nofile();
    let want = args.hold.unwrap_or(args.conns) as u64;
    if limit != 0 && limit < want + 64 {
        eprintln!("echo-load: open-files limit {limit} is too low for {want} connections");
        std::process::exit(1);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    let code = rt.block_on(async move {
        match args.hold {
            Some(n) => hold(&args, n).await,
            None => load(&args).await,
        }
    });
    std::process::exit(code);
}

/// Opens `n` connections, at most 256 connecting at once (the server's
/// accept backlog is finite), retrying refused or reset attempts for a
/// while; with `http`, each makes one request first.
async fn open_all(addr: &str, n: usize, http: bool) -> Result<Vec<TcpStream>, String> {
    let gate = Arc::new(Semaphore::new(256));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (gate, addr) = (gate.clone(), addr.to_string());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            let mut last = String::new();
            for attempt in 0..50u64 {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(20 * attempt.min(10))).await;
                }
                match TcpStream::connect(&addr).await {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        let _ = s.set_zero_linger();
                        if !http {
                            return Ok(s);
                        }
                        match one_request(s).await {
                            Ok(s) => return Ok(s),
                            Err(e) => last = format!("request: {e}"),
                        }
                    }
                    Err(e) => last = format!("connect: {e}"),
                }
            }
            Err(last)
        }));
    }
    let mut conns = Vec::with_capacity(n);
    for t in tasks {
        match t.await {
            Ok(Ok(s)) => conns.push(s),
            Ok(Err(e)) => return Err(format!("{} of {n} connections open, then {e}", conns.len())),
            Err(e) => return Err(format!("connection task: {e}")),
        }
    }
    Ok(conns)
}

/// One `GET /` on `s`, reading the whole response (Content-Length bodies).
async fn one_request(mut s: TcpStream) -> std::io::Result<TcpStream> {
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::other("closed before the response ended"));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Ok(s);
            }
        }
    }
}

async fn hold(args: &Args, n: usize) -> i32 {
    let t0 = Instant::now();
    let conns = match open_all(&args.addr, n, args.http).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("echo-load: hold: {e}");
            return 1;
        }
    };
    println!(
        "{{\"held\":{},\"open_ms\":{:.1}}}",
        conns.len(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    // Hold until standard input closes (read on a thread of its own).
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    })
    .await;
    drop(conns);
    0
}

async fn load(args: &Args) -> i32 {
    let conns = match open_all(&args.addr, args.conns, false).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("echo-load: {e}");
            return 1;
        }
    };
    let size = args.size;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.seconds);
    let mut tasks = Vec::with_capacity(conns.len());
    for (i, mut s) in conns.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let msg: Vec<u8> = (0..size).map(|k| (i + k) as u8).collect();
            let mut back = vec![0u8; size];
            let mut rtts: Vec<u32> = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let ok = s.write_all(&msg).await.is_ok() && s.read_exact(&mut back).await.is_ok();
                if !ok || back != msg {
                    return (rtts, true);
                }
                rtts.push(t.elapsed().as_nanos().min(u32::MAX as u128) as u32);
            }
            (rtts, false)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0usize);
    for t in tasks {
        match t.await {
            Ok((rtts, err)) => {
                all.extend(rtts);
                errors += err as usize;
            }
            Err(_) => errors += 1,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if all.is_empty() {
        eprintln!("echo-load: no message came back ({errors} connections failed)");
        return 1;
    }
    all.sort_unstable();
    let pct = |p: usize| all[(all.len() * p / 100).min(all.len() - 1)] as f64 / 1e3;
    println!(
        "{{\"conns\":{},\"size\":{},\"seconds\":{:.3},\"msgs\":{},\"msgs_per_s\":{:.1},\"p50_us\":{:.1},\"p99_us\":{:.1},\"errors\":{}}}",
        args.conns,
        size,
        secs,
        all.len(),
        all.len() as f64 / secs,
        pct(50),
        pct(99),
        errors
    );
    0
}
