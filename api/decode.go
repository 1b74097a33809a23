package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
)

// ParseTime parses an RFC 3339 time from a caller. Unlike
// time.Parse(time.RFC3339, s), it accepts the lower-case "t" and "z" that
// RFC 3339 allows (section 5.6). Its error quotes s and says what is wrong.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, upperTZ(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", s)
	}
	return t, nil
}

// upperTZ writes the letters of an RFC 3339 time in upper case, the only
// case time.Parse reads.
func upperTZ(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case 't':
			return 'T'
		case 'z':
			return 'Z'
		}
		return r
	}, s)
}

// canonicalTime is s with the letters of a valid RFC 3339 time in upper
// case, or s unchanged if it is not a valid time.
func canonicalTime(s string) string {
	if _, err := ParseTime(s); err != nil {
		return s
	}
	return upperTZ(s)
}

// ArgumentError is an update or signal argument that cannot be decoded:
// an unknown field, a value of the wrong JSON type, or a time that is not
// RFC 3339. Field names the offending field ("testClock.speedup" for a
// nested one); it is empty when the argument is not a JSON object.
type ArgumentError struct {
	Request string // the update or signal: cancel, withdraw, …
	Field   string
	Reason  string
}

func (e *ArgumentError) Error() string {
	if e.Field == "" {
		return "invalid " + e.Request + " argument: " + e.Reason
	}
	return "invalid " + e.Request + " argument: " + e.Field + ": " + e.Reason
}

// fieldError is a field that decodeObject could not decode.
type fieldError struct {
	field, reason string
}

func (e *fieldError) Error() string {
	if e.field == "" {
		return e.reason
	}
	return e.field + ": " + e.reason
}

// Decoding, embedded in every update and signal argument, keeps what the
// strict decoding of the argument found wrong. A workflow checks
// ArgumentErr when it receives the request (in an update's validator): an
// argument that the SDK's lenient JSON decoding took before these rules
// must still decode the same way when a recorded history is replayed, since
// the SDK decodes update arguments before any workflow code runs.
type Decoding struct {
	err error
}

// ArgumentErr is what is wrong with the argument as it was decoded: an
// *ArgumentError naming the field, or nil.
func (d Decoding) ArgumentErr() error { return d.err }

// decodeRequest decodes the argument of request name into the struct v
// points to, strictly (see decodeObject). If that fails, it keeps the error
// in *d and decodes b into lenient (v without its UnmarshalJSON) as
// encoding/json does; only an argument that even that cannot take is an
// error.
func decodeRequest(name string, b []byte, v, lenient any, d *Decoding) error {
	err := decodeObject(b, v)
	if err == nil {
		return nil
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		err = &ArgumentError{Request: name, Field: fe.field, Reason: fe.reason}
	}
	rv := reflect.ValueOf(v).Elem()
	rv.SetZero()
	if lerr := json.Unmarshal(b, lenient); lerr != nil {
		rv.SetZero()
		return err
	}
	d.err = err
	return nil
}

// decodeObject decodes the JSON object b into the struct v points to, field
// by field, so that what is wrong is named: a field the struct does not
// declare (names are case-sensitive), a value of the wrong JSON type, a time
// (a time.Time field) that ParseTime refuses. A field whose value decodes
// with a *fieldError of its own (a nested object) is named as a path:
// "testClock.speedup". null leaves a field zero, and a null object leaves v
// zero. With several wrong fields it reports the first by name, as a
// *fieldError. It zeroes v first.
func decodeObject(b []byte, v any) error {
	rv := reflect.ValueOf(v).Elem()
	rv.SetZero()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return &fieldError{reason: "wrong type: " + typeName(b) + ", want an object"}
	}
	targets := fieldTargets(rv)
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		target, ok := targets[k]
		if !ok {
			return &fieldError{field: k, reason: "unknown field"}
		}
		if err := decodeField(k, fields[k], target); err != nil {
			return err
		}
	}
	return nil
}

// decodeField decodes the value raw of field k into target.
func decodeField(k string, raw json.RawMessage, target any) error {
	if string(raw) == "null" {
		return nil
	}
	if t, ok := target.(*time.Time); ok {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return &fieldError{field: k, reason: "wrong type: " + typeName(raw) + ", want an RFC 3339 time"}
		}
		at, err := ParseTime(s)
		if err != nil {
			return &fieldError{field: k, reason: err.Error()}
		}
		*t = at
		return nil
	}
	err := json.Unmarshal(raw, target)
	if err == nil {
		return nil
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		if fe.field == "" {
			return &fieldError{field: k, reason: fe.reason}
		}
		return &fieldError{field: k + "." + fe.field, reason: fe.reason}
	}
	// Name the wrong value itself when it sits inside the field (an element
	// of dunningDays, a field of an object without its own decoding).
	name, got := k, typeName(raw)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			name = k + "." + te.Field
		}
		got = "got " + te.Value
	}
	return &fieldError{field: name, reason: "wrong type: " + got}
}

// fieldTargets maps the JSON names of the exported fields of the struct rv
// onto pointers to them.
func fieldTargets(rv reflect.Value) map[string]any {
	targets := map[string]any{}
	for i := range rv.NumField() {
		f := rv.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		targets[name] = rv.Field(i).Addr().Interface()
	}
	return targets
}

// typeName says what JSON type raw holds: "got a string", "got an object", ….
func typeName(raw json.RawMessage) string {
	switch s := strings.TrimSpace(string(raw)); {
	case strings.HasPrefix(s, `"`):
		return "got a string"
	case strings.HasPrefix(s, "{"):
		return "got an object"
	case strings.HasPrefix(s, "["):
		return "got an array"
	case s == "true" || s == "false":
		return "got a boolean"
	default:
		return "got a number"
	}
}
