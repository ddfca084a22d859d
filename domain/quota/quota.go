package quota

import "time"

// DayLayout is the layout of a day: the UTC date, "2006-01-02".
const DayLayout = "2006-01-02"

// Day returns the UTC day of t, e.g. "2025-11-23".
func Day(t time.Time) string { return t.UTC().Format(DayLayout) }

// Stream returns the name of the quota stream of a day (see Day).
func Stream(day string) string { return "quota-" + day }

// SwitchStream returns the name of the kill switch's stream.
func SwitchStream() string { return "bots-switch" }

// MaxIDLen bounds a reservation id.
const MaxIDLen = 128
