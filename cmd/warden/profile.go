package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
)

// profileFlag registers --cpuprofile, for performance work on a running
// server: the profile is written when the command ends.
func profileFlag(fs *flag.FlagSet) func() (stop func(), err error) {
	path := fs.String("cpuprofile", "", "write a CPU profile to this file when the command ends")
	return func() (func(), error) {
		if *path == "" {
			return func() {}, nil
		}
		f, err := os.Create(*path)
		if err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		return func() { pprof.StopCPUProfile(); f.Close() }, nil
	}
}
