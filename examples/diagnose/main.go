// Command diagnose explains why a container was OOM-killed.
//
// This placeholder prints the memory snapshot of its own cgroup until the
// diagnosis lands.
package main

import "fmt"

func main() {
	fmt.Println("oomkit diagnose: placeholder")
}
