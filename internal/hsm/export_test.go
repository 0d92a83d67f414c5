//go:build cgo

package hsm

import "github.com/miekg/pkcs11"

// PrivateAttr asks the token for an attribute of k's private half, as
// anyone holding a logged-in session could: tests check that CKA_VALUE is
// refused.
func PrivateAttr(k *Key, attr uint) ([]byte, error) {
	sh, err := k.t.session()
	if err != nil {
		return nil, err
	}
	defer k.t.put(sh)
	a, err := k.t.m.ctx.GetAttributeValue(sh, k.priv, []*pkcs11.Attribute{pkcs11.NewAttribute(attr, nil)})
	if err != nil {
		return nil, err
	}
	return a[0].Value, nil
}
