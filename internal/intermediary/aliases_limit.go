package intermediary

import (
	"fmt"
	"time"
)

// SetAliasLookupLimit replaces every caller's alias lookup budget (one
// lookup per every, bursts of burst) while the intermediary runs. It is
// for benchmarks (`specie bench --payments --via alias`), whose few
// callers look up far more than a customer may: the defaults
// (DefaultAliasLookupEvery, DefaultAliasLookupBurst) and Config stay as
// they are for everything else. Every caller's budget starts full at the
// new limit.
func (in *Intermediary) SetAliasLookupLimit(every time.Duration, burst int) error {
	if every <= 0 || burst <= 0 {
		return fmt.Errorf("alias lookup limit: want a positive interval and burst, have %s and %d", every, burst)
	}
	_, a, err := in.aliases()
	if err != nil {
		return err
	}
	a.lim.set(every, burst)
	return nil
}

// set changes the limiter's rate and burst and fills every bucket.
func (l *limiter) set(every time.Duration, burst int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.every, l.burst = every, burst
	clear(l.tat)
	l.seen = 0
}
