package mailsink

import (
	"fmt"
	"maps"
	"net/mail"
)

// sendRequest is the part of SendGrid's v3 mail send body the sink reads.
type sendRequest struct {
	From             *address          `json:"from"`
	Subject          string            `json:"subject"`
	Personalizations []personalization `json:"personalizations"`
	Content          []content         `json:"content"`
	TemplateID       string            `json:"template_id"`
	Categories       []string          `json:"categories"`
	CustomArgs       map[string]string `json:"custom_args"`
}

type address struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

type personalization struct {
	To                  []address         `json:"to"`
	Subject             string            `json:"subject"`
	CustomArgs          map[string]string `json:"custom_args"`
	DynamicTemplateData map[string]any    `json:"dynamic_template_data"`
}

type content struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

func fieldErr(field, msg string) fieldError {
	return fieldError{Message: msg, Field: &field}
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s
}

// validate checks what SendGrid would refuse among the fields the sink reads.
func (b *sendRequest) validate() []fieldError {
	var errs []fieldError
	if b.From == nil || b.From.Email == "" {
		errs = append(errs, fieldErr("from.email", "The from object must be provided for every email send. It is an object that requires the email parameter."))
	} else if !validEmail(b.From.Email) {
		errs = append(errs, fieldErr("from.email", "The from email does not contain a valid address."))
	}
	if len(b.Personalizations) == 0 {
		errs = append(errs, fieldErr("personalizations", "The personalizations field is required and must have at least one personalization."))
	}
	subjects := b.Subject != ""
	for i, p := range b.Personalizations {
		field := fmt.Sprintf("personalizations.%d.to", i)
		if len(p.To) == 0 {
			errs = append(errs, fieldErr(field, "The to array is required for all personalization objects, and must have at least one email object with a valid email address."))
		}
		for _, to := range p.To {
			if !validEmail(to.Email) {
				errs = append(errs, fieldErr(field, "Does not contain a valid address."))
			}
		}
		subjects = subjects || p.Subject != ""
	}
	if b.TemplateID == "" {
		if !subjects {
			errs = append(errs, fieldErr("subject", "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined."))
		}
		if len(b.Content) == 0 {
			errs = append(errs, fieldErr("content", "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block."))
		}
	}
	for i, c := range b.Content {
		if c.Type == "" || c.Value == "" {
			errs = append(errs, fieldErr("content", "Each content block must have a type and a non-empty value."))
		}
		if c.Type == "text/plain" && i != 0 {
			errs = append(errs, fieldErr("content", "If present, text/plain must be first, followed by text/html."))
		}
	}
	if len(b.Categories) > 10 {
		errs = append(errs, fieldErr("categories", "Too many categories: at most 10 are allowed."))
	}
	return errs
}

// message flattens a validated request.
func (b *sendRequest) message() Message {
	m := Message{From: b.From.Email, Subject: b.Subject, Categories: b.Categories, TemplateID: b.TemplateID,
		CustomArgs: maps.Clone(b.CustomArgs)}
	if m.CustomArgs == nil {
		m.CustomArgs = map[string]string{}
	}
	for i, p := range b.Personalizations {
		for _, to := range p.To {
			m.To = append(m.To, to.Email)
		}
		if i == 0 {
			if m.Subject == "" {
				m.Subject = p.Subject
			}
			maps.Copy(m.CustomArgs, p.CustomArgs)
			m.DynamicData = p.DynamicTemplateData
		}
	}
	for _, c := range b.Content {
		switch c.Type {
		case "text/plain":
			m.Text = c.Value
		case "text/html":
			m.HTML = c.Value
		}
	}
	return m
}
