//! Expansion of `#[goro::main]`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemFn;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    try_expand(attr, item).unwrap_or_else(syn::Error::into_compile_error)
}

fn try_expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = syn::parse2(item).map_err(|err| {
        syn::Error::new(
            err.span(),
            format!("#[goro::main] must be applied to a function: {err}"),
        )
    })?;
    let (attr, migrate) = take_unsafe_migrate(attr);
    let stack_size = match check(attr, &sig) {
        Ok(stack_size) => stack_size,
        Err(err) => {
            // The error, and a stand-in for the function: without one, a
            // rejected `main` would add a second error, E0601 "`main` function
            // not found", that points away from the cause.
            let error = err.into_compile_error();
            let ident = &sig.ident;
            return Ok(quote! {
                #error
                #vis fn #ident() {}
            });
        }
    };
    let output = &sig.output;
    let run = match stack_size {
        None => quote!(::goro::__private::run_main(move || #output #block)),
        Some(bytes) => quote! {
            ::goro::__private::run_main_with_stack_size(#bytes, move || #output #block)
        },
    };
    let enable_migration = migrate.then(|| {
        quote! {
            // SAFETY: the program opted in with `unsafe(migrate)`, taking on
            // `goro::enable_migration`'s contract.
            unsafe { ::goro::enable_migration() };
        }
    });
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #enable_migration
            #run
        }
    })
}

/// Takes the `unsafe(migrate)` argument (Go's full model, whose contract
/// the user accepts by writing `unsafe`) out of the attribute's arguments;
/// returns the rest and whether it was there.
fn take_unsafe_migrate(attr: TokenStream) -> (TokenStream, bool) {
    use proc_macro2::{Delimiter, TokenTree};
    let tokens: Vec<TokenTree> = attr.into_iter().collect();
    let at = tokens.windows(2).position(|pair| match pair {
        [TokenTree::Ident(kw), TokenTree::Group(group)] => {
            kw == "unsafe"
                && group.delimiter() == Delimiter::Parenthesis
                && group.stream().to_string() == "migrate"
        }
        _ => false,
    });
    let Some(at) = at else {
        return (tokens.into_iter().collect(), false);
    };
    let mut end = at + 2;
    if matches!(tokens.get(end), Some(TokenTree::Punct(p)) if p.as_char() == ',') {
        end += 1;
    }
    let rest = tokens[..at].iter().chain(&tokens[end..]).cloned().collect();
    (rest, true)
}

/// Rejects what the attribute cannot run (unknown arguments, `async`,
/// parameters); returns the `stack_size = BYTES` argument, if given.
fn check(attr: TokenStream, sig: &syn::Signature) -> syn::Result<Option<syn::Expr>> {
    let mut stack_size = None;
    let arguments = syn::meta::parser(|meta| {
        if !meta.path.is_ident("stack_size") {
            return Err(
                meta.error("#[goro::main] takes only `stack_size = BYTES` and `unsafe(migrate)`")
            );
        }
        if stack_size.is_some() {
            return Err(meta.error("`stack_size` is given twice"));
        }
        stack_size = Some(meta.value()?.parse::<syn::Expr>()?);
        Ok(())
    });
    syn::parse::Parser::parse2(arguments, attr)?;
    if let Some(asyncness) = sig.asyncness {
        return Err(syn::Error::new_spanned(
            asyncness,
            "#[goro::main] cannot be applied to an `async fn`: goroutines run ordinary blocking code",
        ));
    }
    if !sig.inputs.is_empty() || sig.variadic.is_some() {
        return Err(syn::Error::new_spanned(
            &sig.inputs,
            "#[goro::main] function must not take parameters",
        ));
    }
    Ok(stack_size)
}

#[cfg(test)]
mod tests {
    use super::expand;
    use crate::test_util::{assert_compile_error, assert_tokens_eq};
    use proc_macro2::TokenStream;
    use quote::quote;

    fn assert_error(attr: TokenStream, item: TokenStream, message: &str) {
        assert_compile_error(expand(attr, item), message);
    }

    #[test]
    fn unit_main_runs_body_in_run_main() {
        assert_tokens_eq(
            expand(
                quote!(),
                quote!(
                    fn main() {
                        work();
                    }
                ),
            ),
            quote!(
                fn main() {
                    ::goro::__private::run_main(move || {
                        work();
                    })
                }
            ),
        );
    }

    #[test]
    fn return_type_attributes_and_visibility_are_kept() {
        assert_tokens_eq(
            expand(
                quote!(),
                quote!(
                    #[inline]
                    pub fn body() -> Result<(), E> {
                        Ok(())
                    }
                ),
            ),
            quote!(
                #[inline]
                pub fn body() -> Result<(), E> {
                    ::goro::__private::run_main(move || -> Result<(), E> { Ok(()) })
                }
            ),
        );
    }

    /// A rejected `main` is the error plus an empty `fn main() {}`, so the
    /// compiler reports the cause alone, not also E0601 "`main` function
    /// not found".
    #[test]
    fn a_rejected_main_leaves_a_stand_in() {
        for (attr, item) in [
            (
                quote!(),
                quote!(
                    async fn main() {}
                ),
            ),
            (
                quote!(),
                quote!(
                    pub async fn main() -> Result<(), E> {
                        Ok(())
                    }
                ),
            ),
            (
                quote!(flavor = "x"),
                quote!(
                    fn main() {}
                ),
            ),
            (
                quote!(),
                quote!(
                    fn main(n: u32) {}
                ),
            ),
        ] {
            let expanded = expand(attr, item).to_string();
            let error = expanded.find(":: core :: compile_error !").unwrap();
            let stand_in = expanded.find("fn main () { }").unwrap();
            assert!(error < stand_in, "{expanded}");
            assert_eq!(expanded.matches("fn main").count(), 1, "{expanded}");
        }
    }

    #[test]
    fn unsafe_migrate_enables_migration_first() {
        assert_tokens_eq(
            expand(
                quote!(unsafe(migrate)),
                quote!(
                    fn main() {}
                ),
            ),
            quote!(
                fn main() {
                    unsafe { ::goro::enable_migration() };
                    ::goro::__private::run_main(move || {})
                }
            ),
        );
    }

    #[test]
    fn stack_size_runs_the_body_on_a_stack_of_that_size() {
        assert_tokens_eq(
            expand(
                quote!(stack_size = 64 << 20),
                quote!(
                    fn main() -> u8 {
                        0
                    }
                ),
            ),
            quote!(
                fn main() -> u8 {
                    ::goro::__private::run_main_with_stack_size(64 << 20, move || -> u8 { 0 })
                }
            ),
        );
    }

    #[test]
    fn invalid_uses_are_compile_errors() {
        assert_error(
            quote!(flavor = "x"),
            quote!(
                fn main() {}
            ),
            "#[goro::main] takes only `stack_size = BYTES` and `unsafe(migrate)`",
        );
        assert_error(
            quote!(stack_size = 1, stack_size = 2),
            quote!(
                fn main() {}
            ),
            "`stack_size` is given twice",
        );
        assert_error(
            quote!(),
            quote!(
                async fn main() {}
            ),
            "cannot be applied to an `async fn`",
        );
        assert_error(
            quote!(),
            quote!(
                fn main(n: u32) {}
            ),
            "#[goro::main] function must not take parameters",
        );
        assert_error(
            quote!(),
            quote!(
                struct Main;
            ),
            "#[goro::main] must be applied to a function",
        );
    }
}
