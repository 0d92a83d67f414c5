package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/roles"
)

// Aliases over HTTP: the central bank's alias directory
// (roles.AliasDirectory, for intermediaries) and an intermediary's alias
// service (roles.AliasBook, which the roles.Intermediary that
// Client.Intermediary returns implements).

// AliasDirectory returns the central bank's alias directory served at the
// client's URL.
func (c *Client) AliasDirectory() roles.AliasDirectory { return aliasDirClient{c} }

// aliasDirClient implements roles.AliasDirectory over HTTP.
type aliasDirClient struct{ c *Client }

var (
	_ roles.AliasDirectory = aliasDirClient{}
	_ roles.AliasBook      = interClient{}
)

func aliasPath(hash string) string { return "/v1/directory/aliases/" + url.PathEscape(hash) }

// BindAlias binds a keyed alias hash to a wallet of the caller's.
func (d aliasDirClient) BindAlias(ctx context.Context, b roles.AliasBinding, move bool) (roles.AliasBinding, error) {
	var out wire.AliasBinding
	req := wire.BindAliasRequest{Wallet: b.Wallet, Display: b.Display, Move: move}
	if err := d.c.do(ctx, http.MethodPut, aliasPath(b.Hash), req, &out); err != nil {
		return roles.AliasBinding{}, err
	}
	return out, nil
}

// LookupAlias returns the binding of a keyed alias hash.
func (d aliasDirClient) LookupAlias(ctx context.Context, hash string) (roles.AliasBinding, error) {
	var out wire.AliasBinding
	if err := d.c.do(ctx, http.MethodGet, aliasPath(hash), nil, &out); err != nil {
		return roles.AliasBinding{}, err
	}
	return out, nil
}

// UnbindAlias ends the binding of a keyed alias hash to a wallet.
func (d aliasDirClient) UnbindAlias(ctx context.Context, hash, wallet string) error {
	return d.c.do(ctx, http.MethodDelete, aliasPath(hash)+"/"+url.PathEscape(wallet), nil, nil)
}

// RequestAliasCode has the intermediary send a one-time code for binding
// an alias to a wallet.
func (ic interClient) RequestAliasCode(ctx context.Context, r roles.AliasRequest) (roles.AliasChallenge, error) {
	var out wire.AliasChallenge
	if err := ic.c.do(ctx, http.MethodPost, ic.prefix+"/aliases/codes", wire.AliasCodeRequest(r), &out); err != nil {
		return roles.AliasChallenge{}, err
	}
	return out, nil
}

// ConfirmAlias binds the alias of a pending request when code is its code.
func (ic interClient) ConfirmAlias(ctx context.Context, wallet, alias, code string) (roles.AliasEntry, error) {
	var out wire.AliasEntry
	req := wire.ConfirmAliasRequest{Wallet: wallet, Alias: alias, Code: code}
	if err := ic.c.do(ctx, http.MethodPost, ic.prefix+"/aliases/confirm", req, &out); err != nil {
		return roles.AliasEntry{}, err
	}
	return out, nil
}

// LookupAlias resolves an alias to a wallet and the payee's masked name.
func (ic interClient) LookupAlias(ctx context.Context, alias string) (roles.AliasEntry, error) {
	var out wire.AliasEntry
	if err := ic.c.do(ctx, http.MethodPost, ic.prefix+"/aliases/lookup", wire.LookupAliasRequest{Alias: alias}, &out); err != nil {
		return roles.AliasEntry{}, err
	}
	return out, nil
}

// RemoveAlias ends an alias's binding to a wallet.
func (ic interClient) RemoveAlias(ctx context.Context, wallet, alias string) error {
	return ic.c.do(ctx, http.MethodPost, ic.prefix+"/aliases/remove", wire.RemoveAliasRequest{Wallet: wallet, Alias: alias}, nil)
}
