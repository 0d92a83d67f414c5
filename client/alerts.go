package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/roles"
)

// The intermediary's alert desk (roles.AlertDesk) over HTTP: the
// roles.Intermediary that Client.Intermediary returns implements it.

var _ roles.AlertDesk = interClient{}

// Alerts lists the intermediary's screening alerts in state ("" for all).
func (ic interClient) Alerts(ctx context.Context, state roles.AlertState) ([]roles.Alert, error) {
	path := ic.prefix + "/alerts"
	if state != "" {
		path += "?state=" + url.QueryEscape(string(state))
	}
	var w wire.Alerts
	if err := ic.c.do(ctx, http.MethodGet, path, nil, &w); err != nil {
		return nil, err
	}
	return w.ToAlerts()
}

// Alert returns one screening alert.
func (ic interClient) Alert(ctx context.Context, id string) (roles.Alert, error) {
	var w wire.Alert
	if err := ic.c.do(ctx, http.MethodGet, ic.prefix+"/alerts/"+url.PathEscape(id), nil, &w); err != nil {
		return roles.Alert{}, err
	}
	return w.ToAlert()
}

// CloseAlert closes an open alert as dismissed or reported.
func (ic interClient) CloseAlert(ctx context.Context, id string, c roles.AlertClose) (roles.Alert, error) {
	var w wire.Alert
	req := wire.CloseAlertRequest{State: string(c.State), Reason: c.Reason, By: c.By}
	if err := ic.c.do(ctx, http.MethodPost, ic.prefix+"/alerts/"+url.PathEscape(id)+"/close", req, &w); err != nil {
		return roles.Alert{}, err
	}
	return w.ToAlert()
}
