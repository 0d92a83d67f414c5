package iso20022

import "context"

func (g *Gateway) recall(ctx context.Context, role string, h hdr, hash string, doc []byte) (*outcome, error) {
	a, err := g.statusAnswer(role, Camt056, h, hash, nil, StatusRejected, ReasonForbidden, "recalls are not supported yet")
	return &outcome{answer: a}, err
}

func (g *Gateway) requestToPay(ctx context.Context, role string, h hdr, hash string, doc []byte) (*outcome, error) {
	a, err := g.statusAnswer(role, Pain013, h, hash, nil, StatusRejected, ReasonForbidden, "requests to pay are not supported yet")
	return &outcome{answer: a}, err
}

func (g *Gateway) pain014(id, now, msg string, h hdr, txs []txResult, grpSts, grpReason, grpText string) any {
	return g.pain002(id, now, msg, h, txs, grpSts, grpReason, grpText)
}

func (g *Gateway) camt029(id, now, role string, h hdr, txs []txResult, grpReason, grpText string) any {
	return g.pain002(id, now, Camt056, h, txs, StatusRejected, grpReason, grpText)
}
