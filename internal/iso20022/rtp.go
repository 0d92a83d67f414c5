package iso20022

import "context"

func (g *Gateway) requestToPay(ctx context.Context, role string, h hdr, hash string, doc []byte) (*outcome, error) {
	a, err := g.statusAnswer(role, Pain013, h, hash, nil, StatusRejected, ReasonForbidden, "requests to pay are not supported yet")
	return &outcome{answer: a}, err
}

func (g *Gateway) pain014(id, now, msg string, h hdr, txs []txResult, grpSts, grpReason, grpText string) any {
	return g.pain002(id, now, msg, h, txs, grpSts, grpReason, grpText)
}
