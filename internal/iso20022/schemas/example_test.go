package schemas_test

import (
	"errors"
	"fmt"

	"github.com/specie/specie/internal/iso20022/schemas"
	"github.com/specie/specie/internal/xsd"
)

// A gateway validates every message it reads before anything else: the
// message is named by its namespace, and a refusal says where and why.
func ExampleValidate() {
	doc := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.002.001.11">
  <FIToFIPmtStsRpt>
    <GrpHdr>
      <MsgId>SPECIE-1</MsgId>
      <CreDtTm>2026-12-02T07:30:02Z</CreDtTm>
    </GrpHdr>
    <TxInfAndSts>
      <OrgnlEndToEndId>E2E-1</OrgnlEndToEndId>
      <TxSts>REJECTED</TxSts>
    </TxInfAndSts>
  </FIToFIPmtStsRpt>
</Document>`)
	msg, err := schemas.Validate(doc)
	fmt.Println(msg)
	var xe *xsd.Error
	if errors.As(err, &xe) {
		fmt.Println(xe.Line, xe.Path)
		fmt.Println(xe.Reason)
		fmt.Println(errors.Is(err, xsd.ErrInvalid))
	}
	// Output:
	// pacs.002.001.11
	// 10 /Document/FIToFIPmtStsRpt/TxInfAndSts[1]/TxSts
	// length 8 is above the maximum 4 (ExternalPaymentTransactionStatus1Code)
	// true
}

// Detect names the message without validating it, to pick a handler.
func ExampleDetect() {
	msg, err := schemas.Detect([]byte(`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.056.001.09"/>`))
	fmt.Println(msg, err)
	_, err = schemas.Detect([]byte(`<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]><d>&e;</d>`))
	fmt.Println(errors.Is(err, xsd.ErrDTD))
	// Output:
	// camt.056.001.09 <nil>
	// true
}
