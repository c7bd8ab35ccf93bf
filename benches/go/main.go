// Command workloads runs one concurrency micro-workload per invocation and
// prints exactly one line of JSON to stdout:
//
//	{"workload":"<name>","metric":"<metric>","unit":"<unit>","value":<float>,"extra":{...}}
//
// Lower value is better for every metric. GOMAXPROCS is taken from the
// environment (benches/compare.py sets it). goro's Rust `workloads` binary
// implements the same subcommands with the same output, so the two can be
// compared side by side. The names are those of benches/workloads.json,
// which every runner reads: this one, from beside its source, at start.
//
// Usage: workloads <name>     (workloads list prints the names)
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// workloads maps each subcommand name to its implementation: exactly the
// names of benches/workloads.json (checked at start).
var workloads = map[string]func(){
	"spawn":      spawn,
	"parked":     parked,
	"yield":      yieldLoop,
	"cpu":        cpu,
	"idle":       idle,
	"pingpong":   pingpong,
	"daisychain": daisychain,
	"mpmc":       mpmc,
	"select":     selectLoop,
	"sieve":      sieve,
	"mutex":      mutex,
	"sleepers":   sleepers,
	"waitgroup":  waitgroup,
}

func main() {
	names := listed()
	check(names)
	if len(os.Args) != 2 {
		usage(names)
	}
	if os.Args[1] == "list" {
		for _, n := range names {
			fmt.Println(n)
		}
		return
	}
	w, ok := workloads[os.Args[1]]
	if !ok {
		usage(names)
	}
	w()
}

// listed returns the workload names of benches/workloads.json, in table
// order. The file is found from this source file's path as compiled in.
func listed() []string {
	_, src, _, ok := runtime.Caller(0)
	if !ok {
		fail("cannot find benches/workloads.json: no source path compiled in")
	}
	path := filepath.Join(filepath.Dir(src), "..", "workloads.json")
	b, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	var doc struct {
		Workloads []struct {
			Name string `json:"name"`
		} `json:"workloads"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		fail("%s: %v", path, err)
	}
	ns := make([]string, len(doc.Workloads))
	for i, w := range doc.Workloads {
		ns[i] = w.Name
	}
	return ns
}

// check fails unless the workloads map has exactly the listed names.
func check(names []string) {
	var missing, extra []string
	inList := map[string]bool{}
	for _, n := range names {
		inList[n] = true
		if workloads[n] == nil {
			missing = append(missing, n)
		}
	}
	for n := range workloads {
		if !inList[n] {
			extra = append(extra, n)
		}
	}
	var why []string
	if len(missing) > 0 {
		why = append(why, "lacks "+strings.Join(missing, " ")+" (in benches/workloads.json)")
	}
	if len(extra) > 0 {
		why = append(why, "has "+strings.Join(extra, " ")+" (not in benches/workloads.json)")
	}
	if len(why) > 0 {
		fail("go: %s", strings.Join(why, "; "))
	}
}

func usage(names []string) {
	fmt.Fprintf(os.Stderr, "usage: workloads <%s|list>\n", strings.Join(names, "|"))
	os.Exit(2)
}

// result is the one JSON line each workload prints.
type result struct {
	Workload string             `json:"workload"`
	Metric   string             `json:"metric"`
	Unit     string             `json:"unit"`
	Value    float64            `json:"value"`
	Extra    map[string]float64 `json:"extra"`
}

func emit(workload, metric, unit string, value float64, extra map[string]float64) {
	if extra == nil {
		extra = map[string]float64{}
	}
	b, err := json.Marshal(result{workload, metric, unit, value, extra})
	if err != nil {
		fail("%v", err)
	}
	fmt.Println(string(b))
}

// fail reports a failed self-check; the runner treats a non-zero exit as "n/a".
func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "workloads: "+format+"\n", args...)
	os.Exit(1)
}

// nsPer returns d in nanoseconds divided by n.
func nsPer(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / float64(n) }

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// rssKiB returns the resident set size of this process (VmRSS) in KiB.
func rssKiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		fail("rss: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kib, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				fail("rss: %v", err)
			}
			return kib
		}
	}
	fail("rss: no VmRSS in /proc/self/status")
	return 0
}
