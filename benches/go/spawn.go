package main

import (
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// spawn measures the cost of creating, scheduling and finishing a goroutine:
// 1,000,000 goroutines that do nothing but wg.Done(); the main goroutine
// waits for all of them.
func spawn() {
	run := func(n int) time.Duration {
		var wg sync.WaitGroup
		start := time.Now()
		wg.Add(n)
		for i := 0; i < n; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
		return time.Since(start)
	}
	const n = 1_000_000
	run(100_000) // warm-up
	d := run(n)
	emit("spawn", "ns_per_goroutine", "ns", nsPer(d, n), nil)
}

// parked measures the memory held by a blocked goroutine: 1,000,000
// goroutines each block receiving on one shared unbuffered channel; once all
// have started, the RSS growth over the pre-spawn baseline is divided by the
// count. Then the channel is closed and all goroutines finish. The extra
// ns_per_goroutine is the wall time from first spawn to last exit, per
// goroutine.
func parked() {
	run := func(n int) (rssBefore, rssParked float64, d time.Duration) {
		runtime.GC()
		debug.FreeOSMemory()
		rssBefore = rssKiB()
		gate := make(chan struct{})
		var started, done sync.WaitGroup
		start := time.Now()
		started.Add(n)
		done.Add(n)
		for i := 0; i < n; i++ {
			go func() {
				defer done.Done()
				started.Done()
				<-gate
			}()
		}
		started.Wait()
		rssParked = rssKiB()
		close(gate)
		done.Wait()
		return rssBefore, rssParked, time.Since(start)
	}
	const n = 1_000_000
	run(10_000) // small warm-up, so the baseline is not inflated by reusable memory
	before, parked, d := run(n)
	emit("parked", "kib_rss_per_goroutine", "KiB", (parked-before)/n, map[string]float64{
		"ns_per_goroutine": nsPer(d, n),
		"rss_before_kib":   before,
		"rss_parked_kib":   parked,
	})
}

// waitgroup measures fan-out/fan-in: 10 repetitions of spawning 100,000
// goroutines that each atomically add their index to a shared sum and call
// wg.Done(), with the main goroutine waiting for each batch.
func waitgroup() {
	run := func(n, reps int) time.Duration {
		var sum atomic.Int64
		start := time.Now()
		for r := 0; r < reps; r++ {
			var wg sync.WaitGroup
			wg.Add(n)
			for i := 0; i < n; i++ {
				go func() {
					sum.Add(int64(i))
					wg.Done()
				}()
			}
			wg.Wait()
		}
		d := time.Since(start)
		if want := int64(reps) * int64(n) * int64(n-1) / 2; sum.Load() != want {
			fail("waitgroup: sum %d, want %d", sum.Load(), want)
		}
		return d
	}
	const n, reps = 100_000, 10
	run(n, 1) // warm-up
	d := run(n, reps)
	emit("waitgroup", "ns_per_goroutine", "ns", nsPer(d, n*reps), nil)
}
