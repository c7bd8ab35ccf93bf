//! A worker pool: Go by Example's "Worker Pools", line for line. Three
//! workers take five jobs from one channel and send results on another.
//!
//! `cargo run --release --example worker_pool`
//!
//! ```go
//! func worker(id int, jobs <-chan int, results chan<- int) {
//!     for j := range jobs {
//!         fmt.Println("worker", id, "started  job", j)
//!         time.Sleep(time.Second)
//!         fmt.Println("worker", id, "finished job", j)
//!         results <- j * 2
//!     }
//! }
//!
//! func main() {
//!     const numJobs = 5
//!     jobs := make(chan int, numJobs)
//!     results := make(chan int, numJobs)
//!
//!     for w := 1; w <= 3; w++ {
//!         go worker(w, jobs, results)
//!     }
//!     for j := 1; j <= numJobs; j++ {
//!         jobs <- j
//!     }
//!     close(jobs)
//!
//!     for a := 1; a <= numJobs; a++ {
//!         <-results
//!     }
//! }
//! ```

use goro::chan::{self, Receiver, Sender};
use goro::go;
use std::time::{Duration, Instant};

// Go's directional channel types are the two ends: `jobs <-chan int` is a
// `Receiver<i32>` (it can only receive), `results chan<- int` a `Sender<i32>`.
fn worker(id: usize, jobs: Receiver<i32>, results: Sender<i32>) {
    // `for j := range jobs`: ends when `jobs` is closed and drained.
    for j in jobs {
        println!("worker {id} started  job {j}");
        goro::sleep(Duration::from_secs(1)); // an expensive task
        println!("worker {id} finished job {j}");
        results.send(j * 2).unwrap();
    }
}

#[goro::main]
fn main() {
    const NUM_JOBS: usize = 5;
    let start = Instant::now();
    let (jobs_tx, jobs) = chan::bounded(NUM_JOBS);
    let (results, results_rx) = chan::bounded(NUM_JOBS);

    // `go worker(w, jobs, results)`: each worker gets its own clone of the
    // two ends (a Go channel value is a reference; here the ends are clonable
    // handles to one channel).
    for w in 1..=3 {
        go!(worker(w, jobs.clone(), results.clone()));
    }
    for j in 1..=NUM_JOBS as i32 {
        jobs_tx.send(j).unwrap();
    }
    jobs_tx.close(); // `close(jobs)`: the workers' loops end once it drains

    let mut sum = 0;
    for _ in 1..=NUM_JOBS {
        sum += results_rx.recv().unwrap();
    }
    // Five one-second jobs on three workers take two seconds, not five.
    println!(
        "results sum to {sum}; {NUM_JOBS} one-second jobs took {:.1} s on 3 workers",
        start.elapsed().as_secs_f64()
    );
}
