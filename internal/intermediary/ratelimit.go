package intermediary

import (
	"sync"
	"time"
)

// limiter is a token bucket per key (a caller's name), kept as the
// generic cell rate algorithm: per key one time, tat, at which its bucket
// would be full again. A request at now is allowed when the bucket is not
// empty (tat - now <= (burst-1)*every) and then takes a token (tat +=
// every). Keys whose bucket is full again are forgotten, so the map holds
// only callers active in the last burst*every.
type limiter struct {
	every time.Duration
	burst int

	mu   sync.Mutex
	tat  map[string]time.Time
	seen int // allows since the last sweep
}

// maxLimiterKeys is how many callers' buckets are kept before full ones
// are swept.
const maxLimiterKeys = 4096

func newLimiter(every time.Duration, burst int) *limiter {
	return &limiter{every: every, burst: burst, tat: map[string]time.Time{}}
}

// allow takes a token of key's bucket at now. It reports whether one was
// left and, if not, how long until one is.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, ok := l.tat[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	slack := time.Duration(l.burst-1) * l.every
	if ahead := tat.Sub(now); ahead > slack {
		return false, ahead - slack
	}
	l.tat[key] = tat.Add(l.every)
	if l.seen++; l.seen >= maxLimiterKeys && len(l.tat) >= maxLimiterKeys {
		l.seen = 0
		for k, t := range l.tat {
			if !t.After(now) {
				delete(l.tat, k)
			}
		}
	}
	return true, 0
}
