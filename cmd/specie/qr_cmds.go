package main

// Merchant QR codes (issue 10, part 3): `specie qr show` writes a wallet's
// EMVCo merchant-presented code, and `specie wallet pay --qr` pays one.
// The payload format is package emvco's; this file only chooses defaults,
// renders the code and maps emvco's rejections to errcode.Malformed.

import (
	"context"
	"fmt"
	"strings"

	"github.com/skip2/go-qrcode"
	"github.com/spf13/cobra"

	"github.com/specie/specie/emvco"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/money"
)

// Defaults of `qr show` for what the devnet does not know of a merchant.
const (
	defaultMCC = "5999" // ISO 18245: miscellaneous and specialty retail stores
	pngModule  = 8      // pixels a module a side: whole pixels keep every module the same size, readable from a till screen
)

// qrShown is `qr show --json`: the payload and what it says.
type qrShown struct {
	Payload       string `json:"payload"`
	Wallet        string `json:"wallet"`
	Dynamic       bool   `json:"dynamic"`
	Amount        string `json:"amount,omitempty"` // minor units
	AmountDecimal string `json:"amount_decimal,omitempty"`
	Currency      string `json:"currency"`
	Reference     string `json:"reference,omitempty"`
	Request       string `json:"request,omitempty"` // the payment request the code carries (request_cmds.go)
	MCC           string `json:"mcc"`
	Country       string `json:"country"`
	Name          string `json:"merchant_name"`
	City          string `json:"merchant_city"`
	PNG           string `json:"png,omitempty"`
}

func qrCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "qr", Short: "Merchant QR codes (EMVCo merchant-presented mode)"}
	var wallet, amount, ref, png, name, city, mcc, country, request string
	var invert bool
	show := &cobra.Command{
		Use:   "show --wallet ID [--amount A] [--reference R] [--png FILE]",
		Short: "Show a wallet's merchant QR code: static, or dynamic with --amount",
		Long: `Show a wallet's merchant QR code in the EMVCo merchant-presented format.

Without --amount the code is static (point of initiation 11): the payer
enters the amount. With --amount it is dynamic (12) and carries the amount
and the --reference (bill number). The payload is printed as text, drawn
in the terminal (half blocks, light modules drawn for a dark background;
--invert for a light one) and, with --png, written as a PNG image. The
merchant name defaults to the wallet's owner, the city to its
intermediary, the country to the first two letters of the network's
currency code and the category code (MCC, ISO 18245) to 5999.
Anyone pays it with: specie wallet pay --from WALLET --qr PAYLOAD`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			bank, net, err := g.walletBank(ctx, wallet)
			if err != nil {
				return err
			}
			w, err := bank.Wallet(ctx, wallet)
			if err != nil {
				return err
			}
			p := emvco.Payload{Payee: emvco.Payee{Wallet: w.ID}, MCC: mcc, Country: country, Name: name, City: city, Reference: ref}
			if p.Name == "" {
				p.Name = clip(w.Owner, emvco.MaxName)
			}
			if p.City == "" {
				p.City = clip(strings.SplitN(w.ID, ".", 2)[0], emvco.MaxCity)
			}
			if p.Country == "" {
				p.Country = net.Currency.Code[:2]
			}
			if cmd.Flags().Changed("amount") {
				if p.Amount, _, err = g.amount(ctx, amount); err != nil {
					return err
				}
				p.Dynamic = true
			}
			if request != "" { // request_cmds.go
				if cmd.Flags().Changed("amount") {
					return errcode.New(errcode.Malformed, "--amount: the request fixes the amount; omit --amount with --request")
				}
				if err := g.requestCode(ctx, &p, w.ID, request); err != nil {
					return err
				}
			}
			payload, err := emvco.Encode(p, net.Currency)
			if err != nil {
				return errcode.New(errcode.Malformed, "qr show: %v", err)
			}
			code, err := qrcode.New(payload, qrcode.Medium)
			if err != nil {
				return errcode.New(errcode.Internal, "qr show: render: %v", err)
			}
			if png != "" {
				if err := code.WriteFile(-pngModule, png); err != nil {
					return fmt.Errorf("qr show: write %s: %w", png, err)
				}
			}
			out := qrShown{Payload: payload, Wallet: w.ID, Dynamic: p.Dynamic, Currency: net.Currency.Code, Reference: p.Reference,
				MCC: p.MCC, Country: p.Country, Name: p.Name, City: p.City, PNG: png}
			out.Request = p.Payee.Request
			text := payload + "\n" + code.ToSmallString(invert)
			if p.Dynamic {
				out.Amount, out.AmountDecimal = wire.FormatAmount(p.Amount), net.Currency.Format(p.Amount)
				text += fmt.Sprintf("pay %s %s to %s (%s, %s)", net.Currency.Format(p.Amount), net.Currency.Code, w.ID, p.Name, p.City)
			} else {
				text += fmt.Sprintf("pay any amount to %s (%s, %s)", w.ID, p.Name, p.City)
			}
			if request != "" {
				text += " for request " + request
			}
			if png != "" {
				text += "\nPNG written to " + png
			}
			return g.print(out, text)
		},
	}
	f := show.Flags()
	f.StringVar(&wallet, "wallet", "", "the wallet to be paid")
	f.StringVar(&amount, "amount", "", `makes the code dynamic with this amount: decimal ("12.50") or minor units ("1250")`)
	f.StringVar(&ref, "reference", "", "bill number carried by the code (at most 25 characters)")
	f.StringVar(&png, "png", "", "also write the code as a PNG image to this file")
	f.StringVar(&name, "name", "", "merchant name (at most 25 characters; default: the wallet's owner)")
	f.StringVar(&city, "city", "", "merchant city (at most 15 characters; default: the wallet's intermediary)")
	f.StringVar(&mcc, "mcc", defaultMCC, "merchant category code, 4 digits (ISO 18245)")
	f.StringVar(&country, "country", "", "country, ISO 3166-1 alpha-2 (default: from the currency code)")
	f.BoolVar(&invert, "invert", false, "draw dark modules instead of light ones (for a light terminal background)")
	f.StringVar(&request, "request", "", "a pending payment request of the wallet: the code carries it (and its amount), and wallet pay --qr accepts it")
	show.MarkFlagRequired("wallet")
	cmd.AddCommand(show)
	return cmd
}

// clip makes s a valid merchant name or city: printable ASCII (anything
// else becomes "?"), cut to n characters.
func clip(s string, n int) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7E {
			b[i] = '?'
		}
	}
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// payTarget reads the payee, amount and reference of `wallet pay`: from
// --to and --amount, or from a --qr payload. A QR payload is decoded in
// the network's currency and checked in full (CRC, TLV, every field)
// before anything is sent. A dynamic code fixes the amount, so --amount is
// refused with it rather than silently ignored; a static code needs one.
func (g *globals) payTarget(ctx context.Context, cmd *cobra.Command, qr, to, amount, ref string) (string, uint64, money.Currency, string, error) {
	// Set but empty (--amount=) is a malformed amount, not a missing one.
	haveAmount := cmd.Flags().Changed("amount")
	if !cmd.Flags().Changed("qr") {
		var missing []string
		if !haveAmount {
			missing = append(missing, `"amount"`)
		}
		if !cmd.Flags().Changed("to") {
			missing = append(missing, `"to"`)
		}
		if len(missing) > 0 {
			// Worded as cobra words its own: --to is required unless --qr.
			return "", 0, money.Currency{}, "", fmt.Errorf("required flag(s) %s not set (or pay a code with --qr)", strings.Join(missing, ", "))
		}
		v, cur, err := g.amount(ctx, amount)
		return to, v, cur, ref, err
	}
	if cmd.Flags().Changed("to") {
		return "", 0, money.Currency{}, "", errcode.New(errcode.Malformed, "--qr names the payee: give --to or --qr, not both")
	}
	net, err := g.network(ctx)
	if err != nil {
		return "", 0, money.Currency{}, "", err
	}
	p, err := emvco.Decode(strings.TrimSpace(qr), net.Currency)
	if err != nil {
		return "", 0, net.Currency, "", errcode.New(errcode.Malformed, "--qr: %v", err)
	}
	if p.Payee.Wallet == "" {
		what := "an alias"
		if p.Payee.Request != "" {
			what = "a payment request"
		}
		return "", 0, net.Currency, "", errcode.New(errcode.Malformed, "--qr: the code pays %s, which this network cannot resolve yet; only wallet codes are paid", what)
	}
	if _, err := walletOwner(p.Payee.Wallet); err != nil {
		return "", 0, net.Currency, "", errcode.New(errcode.Malformed, "--qr: %v", err)
	}
	if ref != "" && p.Reference != "" && ref != p.Reference {
		return "", 0, net.Currency, "", errcode.New(errcode.Malformed, "--reference %q: the code carries reference %q", ref, p.Reference)
	}
	if p.Reference != "" {
		ref = p.Reference
	}
	if p.Dynamic {
		if haveAmount {
			return "", 0, net.Currency, "", errcode.New(errcode.Malformed, "--amount: the code fixes the amount at %s %s; omit --amount", net.Currency.Format(p.Amount), net.Currency.Code)
		}
		return p.Payee.Wallet, p.Amount, net.Currency, ref, nil
	}
	if !haveAmount {
		return "", 0, net.Currency, "", errcode.New(errcode.Malformed, "--amount: required to pay a static code (it carries no amount)")
	}
	v, cur, err := g.amount(ctx, amount)
	return p.Payee.Wallet, v, cur, ref, err
}
