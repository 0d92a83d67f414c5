package api_test

import (
	"context"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/roles"
)

// The fake issuer serves the alias directory too, recorded like the rest,
// so a server over fakes routes every alias route.

func (f *fakeIssuer) BindAlias(ctx context.Context, b roles.AliasBinding, move bool) (roles.AliasBinding, error) {
	if err := f.record(ctx, "BindAlias"); err != nil {
		return roles.AliasBinding{}, err
	}
	return b, nil
}

func (f *fakeIssuer) LookupAlias(ctx context.Context, hash string) (roles.AliasBinding, error) {
	if err := f.record(ctx, "LookupAlias"); err != nil {
		return roles.AliasBinding{}, err
	}
	return roles.AliasBinding{}, errcode.New(errcode.NotFound, "no wallet has this alias")
}

func (f *fakeIssuer) UnbindAlias(ctx context.Context, hash, wallet string) error {
	return f.record(ctx, "UnbindAlias")
}
