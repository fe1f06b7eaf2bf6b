package cgroup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// JSON: one schema for the whole module (README "JSON"). Keys are
// snake_case; a byte quantity is an integer number of bytes under a key
// ending in _bytes; a value the kernel or the version does not provide
// (an unknown Amount, Limit or Count, an unknown Pressure) is null, never
// 0; an unlimited Limit is the string "max" (the kernel's own spelling),
// so null stays "unknown"; durations are integer nanoseconds under keys
// ending in _ns; times are RFC 3339; enumerations (Version, Mode,
// EventKind) are their String, "unknown" for the zero value; an error is
// its message under "error", omitted when there is none.

var null = []byte("null")

// MarshalJSON returns the number of bytes, or null when unknown.
func (a Amount) MarshalJSON() ([]byte, error) {
	if !a.Known {
		return null, nil
	}
	return strconv.AppendInt(nil, int64(a.Bytes), 10), nil
}

// UnmarshalJSON accepts what MarshalJSON produces: an integer or null.
func (a *Amount) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, null) {
		*a = Amount{}
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("cgroup: amount %s: want an integer number of bytes or null", b)
	}
	*a = AmountOf(Bytes(n))
	return nil
}

// MarshalJSON returns the number of bytes, "max" when unlimited, or null
// when unknown.
func (l Limit) MarshalJSON() ([]byte, error) {
	switch {
	case !l.Known:
		return null, nil
	case l.Unlimited:
		return []byte(`"max"`), nil
	}
	return strconv.AppendInt(nil, int64(l.Bytes), 10), nil
}

// UnmarshalJSON accepts what MarshalJSON produces: a non-negative integer,
// "max" or null.
func (l *Limit) UnmarshalJSON(b []byte) error {
	switch {
	case bytes.Equal(b, null):
		*l = Limit{}
		return nil
	case string(b) == `"max"`:
		*l = NoLimit()
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("cgroup: limit %s: want a non-negative integer number of bytes, \"max\" or null", b)
	}
	*l = LimitOf(Bytes(n))
	return nil
}

// MarshalText returns "max" when unlimited or the decimal number of bytes;
// an unknown limit has no text form.
func (l Limit) MarshalText() ([]byte, error) {
	switch {
	case !l.Known:
		return nil, errors.New("cgroup: an unknown limit has no text form")
	case l.Unlimited:
		return []byte("max"), nil
	}
	return strconv.AppendInt(nil, int64(l.Bytes), 10), nil
}

// UnmarshalText accepts "max" or a decimal number of bytes, as memory.max
// holds them.
func (l *Limit) UnmarshalText(b []byte) error {
	if string(b) == "max" {
		*l = NoLimit()
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("cgroup: limit %q: want a non-negative number of bytes or max", b)
	}
	*l = LimitOf(Bytes(n))
	return nil
}

// MarshalJSON returns the count, or null when unknown.
func (c Count) MarshalJSON() ([]byte, error) {
	if !c.Known {
		return null, nil
	}
	return strconv.AppendUint(nil, c.N, 10), nil
}

// UnmarshalJSON accepts what MarshalJSON produces: a non-negative integer
// or null.
func (c *Count) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, null) {
		*c = Count{}
		return nil
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("cgroup: count %s: want a non-negative integer or null", b)
	}
	*c = CountOf(n)
	return nil
}

// MarshalText returns String().
func (v Version) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText accepts what MarshalText produces.
func (v *Version) UnmarshalText(b []byte) error {
	switch string(b) {
	case "v1":
		*v = V1
	case "v2":
		*v = V2
	case "unknown", "":
		*v = VersionUnknown
	default:
		return fmt.Errorf("cgroup: unknown version %q", b)
	}
	return nil
}

// MarshalText returns String().
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText accepts what MarshalText produces.
func (m *Mode) UnmarshalText(b []byte) error {
	for _, x := range []Mode{ModeUnknown, ModeV1, ModeHybrid, ModeV2} {
		if x.String() == string(b) {
			*m = x
			return nil
		}
	}
	return fmt.Errorf("cgroup: unknown mode %q", b)
}

// MarshalText returns String().
func (k EventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText accepts what MarshalText produces.
func (k *EventKind) UnmarshalText(b []byte) error {
	for _, x := range []EventKind{0, EventOOM, EventThreshold, EventRemoved} {
		if x.String() == string(b) {
			*k = x
			return nil
		}
	}
	return fmt.Errorf("cgroup: unknown event kind %q", b)
}

type pressureJSON struct {
	Some PSILine `json:"some"`
	Full PSILine `json:"full"`
	Host bool    `json:"host"`
}

// MarshalJSON returns null when PSI is unavailable, else some, full and
// host.
func (p Pressure) MarshalJSON() ([]byte, error) {
	if !p.Known {
		return null, nil
	}
	return json.Marshal(pressureJSON{p.Some, p.Full, p.Host})
}

// UnmarshalJSON accepts what MarshalJSON produces.
func (p *Pressure) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, null) {
		*p = Pressure{}
		return nil
	}
	var j pressureJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = Pressure{Some: j.Some, Full: j.Full, Host: j.Host, Known: true}
	return nil
}

// errText is an error as JSON: its message, omitted when nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// MarshalJSON writes the event with its error as a message.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	return json.Marshal(struct {
		plain
		Err string `json:"error,omitempty"`
	}{plain(e), errText(e.Err)})
}

// MarshalJSON writes the event with its error as a message.
func (e PressureEvent) MarshalJSON() ([]byte, error) {
	type plain PressureEvent
	return json.Marshal(struct {
		plain
		Err string `json:"error,omitempty"`
	}{plain(e), errText(e.Err)})
}
