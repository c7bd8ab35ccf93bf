// Command echoserver is Go's side of the TCP echo comparison run by
// `benches/compare.py --servers`: one goroutine per connection writes back
// whatever it reads, through a 4 KiB buffer (the size every contender's
// echo server uses, so that memory per idle connection compares like with
// like).
//
// Usage: echoserver ADDR     (e.g. 127.0.0.1:18081; GOMAXPROCS from the environment)
package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: echoserver ADDR")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "echoserver:", err)
		os.Exit(1)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			// Out of file descriptors and the like: wait, then go on.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go echo(c)
	}
}

func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}
