package main

import (
	"sync"
	"time"
)

// pingpong measures an unbuffered-channel handoff between two goroutines:
// A sends on ping, B receives and sends it back on pong, A receives;
// 1,000,000 round trips.
func pingpong() {
	run := func(n int) time.Duration {
		ping, pong := make(chan int), make(chan int)
		var wg sync.WaitGroup
		start := time.Now()
		wg.Add(2)
		go func() { // A
			defer wg.Done()
			for i := 0; i < n; i++ {
				ping <- i
				if v := <-pong; v != i {
					fail("pingpong: got %d, want %d", v, i)
				}
			}
		}()
		go func() { // B
			defer wg.Done()
			for i := 0; i < n; i++ {
				pong <- <-ping
			}
		}()
		wg.Wait()
		return time.Since(start)
	}
	const n = 1_000_000
	run(10_000) // warm-up
	d := run(n)
	emit("pingpong", "ns_per_roundtrip", "ns", nsPer(d, n), nil)
}

// daisychain measures one hop through a chain of 10,000 goroutines linked by
// unbuffered channels, each forwarding value+1 to its right. The chain is
// built (and primed with a few values) before timing; then a feeder goroutine
// pushes 100 values into the left end while main reads them from the right
// end, checking each is input+10000. Metric: time / (100 * 10000).
func daisychain() {
	const n, values = 10_000, 100
	first := make(chan int)
	left := first
	for i := 0; i < n; i++ {
		right := make(chan int)
		go func(left <-chan int, right chan<- int) {
			for v := range left {
				right <- v + 1
			}
			close(right)
		}(left, right)
		left = right
	}
	last := left
	pass := func(k int) {
		go func() {
			for i := 0; i < k; i++ {
				first <- i
			}
		}()
		for i := 0; i < k; i++ {
			if v := <-last; v != i+n {
				fail("daisychain: got %d, want %d", v, i+n)
			}
		}
	}
	pass(10) // warm-up: every link has run and grown its stack
	start := time.Now()
	pass(values)
	d := time.Since(start)
	close(first) // shut the chain down
	for range last {
	}
	emit("daisychain", "ns_per_hop", "ns", nsPer(d, values*n), nil)
}

// mpmc measures a contended buffered channel: 4 producers each send 1..1,000,000
// into one make(chan int, 1024); 4 consumers sum until it is closed (after all
// producers finish); the total is checked.
func mpmc() {
	const producers, consumers = 4, 4
	run := func(perProducer int) time.Duration {
		ch := make(chan int, 1024)
		sums := make(chan int, consumers)
		var prod sync.WaitGroup
		start := time.Now()
		prod.Add(producers)
		for p := 0; p < producers; p++ {
			go func() {
				defer prod.Done()
				for i := 1; i <= perProducer; i++ {
					ch <- i
				}
			}()
		}
		for c := 0; c < consumers; c++ {
			go func() {
				s := 0
				for v := range ch {
					s += v
				}
				sums <- s
			}()
		}
		prod.Wait()
		close(ch)
		total := 0
		for c := 0; c < consumers; c++ {
			total += <-sums
		}
		d := time.Since(start)
		if want := producers * perProducer * (perProducer + 1) / 2; total != want {
			fail("mpmc: sum %d, want %d", total, want)
		}
		return d
	}
	const perProducer = 1_000_000
	run(perProducer / 100) // warm-up
	d := run(perProducer)
	emit("mpmc", "ns_per_msg", "ns", nsPer(d, producers*perProducer), nil)
}

// selectLoop measures a two-way select: two channels of capacity 128, each fed
// 1..1,000,000 by its own goroutine; main selects over both until it has
// received 2,000,000 values and checks both sums.
func selectLoop() {
	run := func(n int) time.Duration {
		a, b := make(chan int, 128), make(chan int, 128)
		feed := func(ch chan<- int) {
			for i := 1; i <= n; i++ {
				ch <- i
			}
		}
		start := time.Now()
		go feed(a)
		go feed(b)
		var sa, sb int
		for got := 0; got < 2*n; got++ {
			select {
			case v := <-a:
				sa += v
			case v := <-b:
				sb += v
			}
		}
		d := time.Since(start)
		if want := n * (n + 1) / 2; sa != want || sb != want {
			fail("select: sums %d, %d, want %d", sa, sb, want)
		}
		return d
	}
	const n = 1_000_000
	run(n / 100) // warm-up
	d := run(n)
	emit("select", "ns_per_select", "ns", nsPer(d, 2*n), nil)
}

// sieve is the classic concurrent prime sieve from the Go documentation:
// a generator goroutine feeds 2, 3, 4, ... into a growing chain of filter
// goroutines, one per prime found. Finds the first 3000 primes (the 3000th is
// 27449). Metric: total ms. The goroutines of each run are left blocked
// forever, as in the original; the process exits right after.
func sieve() {
	generate := func(ch chan<- int) {
		for i := 2; ; i++ {
			ch <- i
		}
	}
	filter := func(in <-chan int, out chan<- int, prime int) {
		for {
			if i := <-in; i%prime != 0 {
				out <- i
			}
		}
	}
	primes := func(n int) int {
		ch := make(chan int)
		go generate(ch)
		var prime int
		for i := 0; i < n; i++ {
			prime = <-ch
			ch1 := make(chan int)
			go filter(ch, ch1, prime)
			ch = ch1
		}
		return prime
	}
	primes(300) // warm-up
	start := time.Now()
	p := primes(3000)
	d := time.Since(start)
	if p != 27449 {
		fail("sieve: 3000th prime %d, want 27449", p)
	}
	emit("sieve", "ms_total", "ms", ms(d), nil)
}
