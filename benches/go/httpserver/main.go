// Command httpserver is Go's side of the HTTP server comparison run by
// `benches/compare.py --servers`: net/http answering every request with
// "Hello, world!" (HTTP/1.1, keep-alive, as net/http does by default).
//
// Usage: httpserver ADDR     (e.g. 127.0.0.1:18080; GOMAXPROCS from the environment)
package main

import (
	"fmt"
	"net/http"
	"os"
)

var hello = []byte("Hello, world!")

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: httpserver ADDR")
		os.Exit(2)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(hello)
	})
	if err := http.ListenAndServe(os.Args[1], nil); err != nil {
		fmt.Fprintln(os.Stderr, "httpserver:", err)
		os.Exit(1)
	}
}
