// Command memhog allocates and touches memory at a chosen pace, so tests and
// trace recordings can drive a real cgroup toward (or past) its limit.
//
//	memhog -step 1MiB -interval 10ms -total 100MiB [-hold] [-free-every N] [-readfile PATH]
//
// It writes every page it allocates (so the memory is resident, not just
// reserved), prints "ready" on stdout once it has started, and with -hold
// sleeps after reaching -total until it is killed. -free-every N drops all
// memory after every N steps (a sawtooth, like a garbage-collected heap).
// -readfile reads a file repeatedly to fill the page cache instead.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	units "github.com/docker/go-units"
)

func main() {
	step := flag.String("step", "1MiB", "bytes to allocate per step")
	total := flag.String("total", "64MiB", "stop allocating after this many bytes (0: never)")
	interval := flag.Duration("interval", 0, "pause between steps")
	hold := flag.Bool("hold", false, "sleep after reaching -total instead of exiting")
	freeEvery := flag.Int("free-every", 0, "drop all memory after every N steps (sawtooth)")
	readFile := flag.String("readfile", "", "read this file in a loop (page cache) instead of allocating")
	flag.Parse()

	debug.SetGCPercent(-1) // the pattern is ours, not the collector's
	stepB, err := units.RAMInBytes(*step)
	check(err)
	totalB, err := units.RAMInBytes(*total)
	check(err)
	fmt.Println("ready")

	if *readFile != "" {
		buf := make([]byte, 1<<20)
		for {
			f, err := os.Open(*readFile)
			check(err)
			_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
			check(err)
			check(f.Close())
			time.Sleep(*interval)
		}
	}

	var held [][]byte
	var n int64
	steps := 0
	for totalB == 0 || n < totalB {
		b := make([]byte, stepB)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		held = append(held, b)
		n += stepB
		steps++
		if *freeEvery > 0 && steps%*freeEvery == 0 {
			held, n = nil, 0
			debug.FreeOSMemory()
		}
		time.Sleep(*interval)
	}
	if *hold {
		for {
			time.Sleep(time.Hour)
		}
	}
	_ = held
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "memhog:", err)
		os.Exit(2)
	}
}
