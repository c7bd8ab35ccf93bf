package main

import (
	"sync"
	"time"
)

// mutex measures a contended sync.Mutex: 1000 goroutines each lock, increment
// a shared counter and unlock 10,000 times (10,000,000 locks); the counter is
// checked.
func mutex() {
	run := func(goroutines, iters int) time.Duration {
		var mu sync.Mutex
		counter := 0
		var wg sync.WaitGroup
		start := time.Now()
		wg.Add(goroutines)
		for g := 0; g < goroutines; g++ {
			go func() {
				defer wg.Done()
				for i := 0; i < iters; i++ {
					mu.Lock()
					counter++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		d := time.Since(start)
		if counter != goroutines*iters {
			fail("mutex: counter %d, want %d", counter, goroutines*iters)
		}
		return d
	}
	const goroutines, iters = 1000, 10_000
	run(100, 100) // warm-up
	d := run(goroutines, iters)
	emit("mutex", "ns_per_lock", "ns", nsPer(d, goroutines*iters), nil)
}
