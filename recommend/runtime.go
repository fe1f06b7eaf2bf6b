package recommend

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"strings"

	"github.com/oomkit/oomkit/cgroup"
)

// RuntimeHints tells the recommender what it knows of the runtime inside
// the container, so that the runtime settings hold.
type RuntimeHints struct {
	// Heap is the largest heap the runtime was seen to use (JVM heap after
	// collection, Go heap in use, V8 old space), when known.
	Heap cgroup.Amount
	// Env is the container's environment as set today (JAVA_OPTS,
	// JAVA_TOOL_OPTIONS, GOMEMLIMIT, NODE_OPTIONS matter).
	Env map[string]string
}

// WithRuntime passes what is known of the runtime (see RuntimeHints).
func WithRuntime(h RuntimeHints) Option {
	return Option{func(o *options) error {
		if h.Heap.Known && !validBytes(h.Heap.Bytes) {
			return fmt.Errorf("recommend: heap %d: %w", h.Heap.Bytes, ErrBadSample)
		}
		h.Env = maps.Clone(h.Env)
		o.runtime = h
		return nil
	}}
}

var (
	xmxRe     = regexp.MustCompile(`-Xmx(\d+[kKmMgGtT]?)\b`)
	maxOldRe  = regexp.MustCompile(`--max-old-space-size[= ](\d+)`)
	ramPctRe  = regexp.MustCompile(`-XX:MaxRAMPercentage=([\d.]+)`)
	javaEnvs  = []string{"JAVA_TOOL_OPTIONS", "JAVA_OPTS", "JDK_JAVA_OPTIONS"}
	nativeMiB = 64.0 + 48 + 32 // metaspace, code cache, thread stacks and GC structures: the JVM's floor outside the heap
)

// runtimeSettings returns the settings that make the runtime live within
// mem, and warnings where the container's own settings would defeat them.
func runtimeSettings(p Profile, mem cgroup.Bytes, h RuntimeHints, warn []string) (map[string]string, []string) {
	mib := float64(mem) / (1 << 20)
	switch p {
	case JVM:
		// Heap: what it was seen to use plus 25% when known, else a share
		// of the limit (small containers need proportionally more native
		// room); never more than the limit less the native floor.
		pct := 75.0
		if mib < 1024 {
			pct = 60
		}
		if mib < 384 {
			pct = 50
		}
		heap := mib * pct / 100
		how := fmt.Sprintf("%.0f%% of the limit (no heap figure given)", pct)
		if h.Heap.Known {
			heap = 1.25 * float64(h.Heap.Bytes) / (1 << 20)
			how = fmt.Sprintf("observed heap %s + 25%%", h.Heap.Bytes)
		}
		if room := mib - nativeMiB; heap > room {
			warn = append(warn, fmt.Sprintf("the JVM heap (%s) leaves less than %.0f MiB of the %s limit for metaspace, code cache and threads: heap capped at %.0f MiB; raise the limit if the heap needs more", how, nativeMiB, mem, math.Max(room, mib/2)))
			heap = math.Max(room, mib/2)
		}
		xmx := fmt.Sprintf("-Xmx%dm", int(heap))
		for _, k := range javaEnvs {
			if v, ok := h.Env[k]; ok && xmxRe.MatchString(v) {
				warn = append(warn, fmt.Sprintf("%s already sets %s, which overrides -XX:MaxRAMPercentage: replace it with %s", k, xmxRe.FindString(v), xmx))
			}
		}
		out := map[string]string{"JAVA_TOOL_OPTIONS": xmx}
		if cur := h.Env["JAVA_TOOL_OPTIONS"]; cur != "" {
			rest := strings.TrimSpace(ramPctRe.ReplaceAllString(xmxRe.ReplaceAllString(cur, ""), ""))
			out["JAVA_TOOL_OPTIONS"] = strings.TrimSpace(rest + " " + xmx)
		}
		return out, warn
	case Go:
		// GOMEMLIMIT is a soft limit: the collector works harder near it.
		gml := int(mib * 0.9)
		if h.Heap.Known && float64(h.Heap.Bytes)/(1<<20) > float64(gml) {
			warn = append(warn, fmt.Sprintf("the Go heap was seen at %s, above GOMEMLIMIT %dMiB: the collector will run continuously; raise the limit", h.Heap.Bytes, gml))
		}
		if v, ok := h.Env["GOMEMLIMIT"]; ok && v != "" {
			warn = append(warn, fmt.Sprintf("GOMEMLIMIT is set today to %s: replace it with %dMiB", v, gml))
		}
		return map[string]string{"GOMEMLIMIT": fmt.Sprintf("%dMiB", gml)}, warn
	case Node:
		old := int(mib * 0.75)
		if h.Heap.Known && float64(h.Heap.Bytes)/(1<<20) > float64(old) {
			warn = append(warn, fmt.Sprintf("V8's old space was seen at %s, above --max-old-space-size=%d: raise the limit", h.Heap.Bytes, old))
		}
		opt := fmt.Sprintf("--max-old-space-size=%d", old)
		if cur := h.Env["NODE_OPTIONS"]; cur != "" {
			if m := maxOldRe.FindString(cur); m != "" {
				warn = append(warn, fmt.Sprintf("NODE_OPTIONS already sets %s: replaced with %s", m, opt))
			}
			opt = strings.TrimSpace(maxOldRe.ReplaceAllString(cur, "") + " " + opt)
		}
		return map[string]string{"NODE_OPTIONS": opt}, warn
	}
	return nil, warn
}
