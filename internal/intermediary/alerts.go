package intermediary

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/roles"
)

// Screening alerts (screen.go opens them) as compliance staff see them:
// listed, read, and closed once as dismissed or reported, with who closed
// it and why. Only the intermediary's own credential reaches them: its
// compliance staff work through it, as its customers do.

var _ roles.AlertDesk = (*Intermediary)(nil)

// MaxAlertReasonLen bounds the reason given when closing an alert.
const MaxAlertReasonLen = 1024

// Alerts lists the alerts in state ("" for all), oldest first.
func (in *Intermediary) Alerts(ctx context.Context, state roles.AlertState) ([]roles.Alert, error) {
	if err := in.enter(); err != nil {
		return nil, err
	}
	defer in.exit()
	if err := in.authorizeOwn(ctx); err != nil {
		return nil, err
	}
	if state != "" && !state.Known() {
		return nil, errcode.New(errcode.Malformed, "alert state %q: want open, dismissed or reported", state)
	}
	out := []roles.Alert{}
	err := in.db.Scan([]byte(pAlert), nil, func(_, v []byte) error {
		var a roles.Alert
		if err := decodeRec(v, &a); err != nil {
			return err
		}
		if state == "" || a.State == state {
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, internalErr("alerts", err)
	}
	slices.SortFunc(out, func(a, b roles.Alert) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Alert returns alert id.
func (in *Intermediary) Alert(ctx context.Context, id string) (roles.Alert, error) {
	if err := in.enter(); err != nil {
		return roles.Alert{}, err
	}
	defer in.exit()
	if err := in.authorizeOwn(ctx); err != nil {
		return roles.Alert{}, err
	}
	return in.loadAlert(id)
}

func (in *Intermediary) loadAlert(id string) (roles.Alert, error) {
	var a roles.Alert
	if id == "" || len(id) > 64 {
		return a, errcode.New(errcode.NotFound, "no alert %q", id)
	}
	found, err := getRec(in.db, alertKey(id), &a)
	if err != nil {
		return a, internalErr("alert "+id, err)
	}
	if !found {
		return a, errcode.New(errcode.NotFound, "no alert %q", id)
	}
	return a, nil
}

// CloseAlert closes open alert id as c.State (dismissed or reported),
// recording c.By (the caller's name when empty), c.Reason and the time.
// It is synced before it answers: a decision reported made is kept.
func (in *Intermediary) CloseAlert(ctx context.Context, id string, c roles.AlertClose) (roles.Alert, error) {
	if err := in.enter(); err != nil {
		return roles.Alert{}, err
	}
	defer in.exit()
	if err := in.authorizeOwn(ctx); err != nil {
		return roles.Alert{}, err
	}
	if c.State != roles.AlertDismissed && c.State != roles.AlertReported {
		return roles.Alert{}, errcode.New(errcode.Malformed, "state %q: an alert is closed as dismissed or reported", c.State)
	}
	if strings.TrimSpace(c.Reason) == "" || len(c.Reason) > MaxAlertReasonLen || !utf8.ValidString(c.Reason) {
		return roles.Alert{}, errcode.New(errcode.Malformed, "reason: want 1 to %d bytes of UTF-8 text saying why", MaxAlertReasonLen)
	}
	if len(c.By) > MaxOwnerLen || !utf8.ValidString(c.By) {
		return roles.Alert{}, errcode.New(errcode.Malformed, "by: want at most %d bytes of UTF-8 text", MaxOwnerLen)
	}
	if c.By == "" {
		p, _ := roles.Caller(ctx)
		c.By = p.Name
	}
	in.scr.alertMu.Lock() // read, check and write as one step: an alert closes once
	defer in.scr.alertMu.Unlock()
	a, err := in.loadAlert(id)
	if err != nil {
		return roles.Alert{}, err
	}
	if a.State != roles.AlertOpen {
		return roles.Alert{}, errcode.New(errcode.Conflict, "alert %s is already %s (by %s: %s)", id, a.State, a.ClosedBy, a.Reason)
	}
	a.State, a.Closed, a.ClosedBy, a.Reason = c.State, in.now(), c.By, c.Reason
	v, err := recBytes(a)
	if err != nil {
		return roles.Alert{}, internalErr("alert "+id, err)
	}
	b := in.db.NewBatch()
	b.Set(alertKey(id), v)
	if err := b.Commit(true); err != nil {
		return roles.Alert{}, internalErr("close alert "+id, err)
	}
	in.log.Info("alert closed", "alert", id, "state", a.State, "by", a.ClosedBy)
	return a, nil
}
