// Package docker is oomkit's Docker side: it collects the evidence about a
// Docker container (Collector.Container: the Engine's inspect state and
// events, with what package oom reads on the host) and follows the Engine's
// events across restarts (Follow, Collector.FollowOOMs). It is apart from
// package oom so that a program that only parses kernel reports or
// diagnoses does not link the Docker client.
package docker
