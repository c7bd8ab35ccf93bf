package main

import (
	"runtime"
	"sort"
	"sync"
	"syscall"
	"time"
)

// yieldLoop measures a voluntary context switch: two goroutines each call
// runtime.Gosched() 1,000,000 times; ns per yield over both.
func yieldLoop() {
	run := func(n int) time.Duration {
		var wg sync.WaitGroup
		start := time.Now()
		wg.Add(2)
		for g := 0; g < 2; g++ {
			go func() {
				defer wg.Done()
				for i := 0; i < n; i++ {
					runtime.Gosched()
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	const n = 1_000_000
	run(10_000) // warm-up
	d := run(n)
	emit("yield", "ns_per_yield", "ns", nsPer(d, 2*n), nil)
}

// Parameters of the cpu workload, shared with goro's implementation.
const (
	cpuTasks = 64
	cpuIters = 6_000_000 // per task
)

// xorshiftSum is the cpu workload's unit of work: task t runs the xorshift64
// generator (13, 7, 17) from seed (t+1)*0x9E3779B97F4A7C15 for iters steps and
// returns the wrapping sum of the generated values.
func xorshiftSum(t, iters int) uint64 {
	x := uint64(t+1) * 0x9E3779B97F4A7C15
	var sum uint64
	for i := 0; i < iters; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		sum += x
	}
	return sum
}

// cpu measures parallel throughput of CPU-bound goroutines: 64 tasks of
// xorshiftSum run in their own goroutines; ms from first spawn to last
// result. The runner derives the speedup from GOMAXPROCS=1 vs 2. The extra
// checksum is the low 32 bits of the wrapping sum of all task sums.
func cpu() {
	run := func(iters int) (time.Duration, uint64) {
		sums := make([]uint64, cpuTasks)
		var wg sync.WaitGroup
		start := time.Now()
		wg.Add(cpuTasks)
		for t := 0; t < cpuTasks; t++ {
			go func() {
				defer wg.Done()
				sums[t] = xorshiftSum(t, iters)
			}()
		}
		wg.Wait()
		d := time.Since(start)
		var total uint64
		for _, s := range sums {
			total += s
		}
		return d, total
	}
	run(cpuIters / 50) // warm-up
	d, total := run(cpuIters)
	emit("cpu", "ms_total", "ms", ms(d), map[string]float64{"checksum": float64(total & 0xFFFF_FFFF)})
}

// cpuTime returns the user+system CPU time consumed so far by this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// idle measures the CPU burned while 1000 goroutines sleep for 2 s:
// process CPU time (user+sys) as a percentage of one core over the wall time.
func idle() {
	run := func(n int, nap time.Duration) (wall, busy time.Duration) {
		var wg sync.WaitGroup
		cpu0, start := cpuTime(), time.Now()
		wg.Add(n)
		for i := 0; i < n; i++ {
			go func() {
				defer wg.Done()
				time.Sleep(nap)
			}()
		}
		wg.Wait()
		return time.Since(start), cpuTime() - cpu0
	}
	const n = 1000
	run(n, time.Millisecond) // warm-up
	wall, busy := run(n, 2*time.Second)
	emit("idle", "pct_of_core", "%", 100*busy.Seconds()/wall.Seconds(), map[string]float64{
		"cpu_ms":  ms(busy),
		"wall_ms": ms(wall),
	})
}

// sleepers measures timer scalability and accuracy: 100,000 goroutines each
// sleep 10 ms five times, recording each sleep's lateness (actual - requested).
// Metric: wall ms for all (ideal 50). Extras: lateness percentiles in µs,
// nearest-rank on the sorted samples: p-th = sorted[min(len-1, len*p/100)].
func sleepers() {
	const iters, nap = 5, 10 * time.Millisecond
	run := func(n int) (time.Duration, []time.Duration) {
		late := make([]time.Duration, n*iters)
		var wg sync.WaitGroup
		start := time.Now()
		wg.Add(n)
		for g := 0; g < n; g++ {
			go func() {
				defer wg.Done()
				for i := 0; i < iters; i++ {
					t0 := time.Now()
					time.Sleep(nap)
					late[g*iters+i] = time.Since(t0) - nap
				}
			}()
		}
		wg.Wait()
		return time.Since(start), late
	}
	run(1000) // warm-up
	d, late := run(100_000)
	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
	pct := func(p int) float64 {
		return float64(late[min(len(late)-1, len(late)*p/100)].Nanoseconds()) / 1e3
	}
	emit("sleepers", "ms_wall", "ms", ms(d), map[string]float64{
		"late_p50_us": pct(50),
		"late_p99_us": pct(99),
	})
}
