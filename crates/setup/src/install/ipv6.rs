//! IPv6: when the relay delivers over IPv6 and the provider's image has it off in the kernel,
//! it is switched on with a sysctl file (tutorial step 3).

use super::{Context, Detail, Error, Stage, Step};
use crate::remote::Remote;
use crate::ssh::quote;

/// The sysctl file that switches IPv6 on.
pub(super) const IPV6_SYSCTL: &str = "/etc/sysctl.d/60-outpost-ipv6.conf";

pub(super) async fn enable<R: Remote>(context: &mut Context<'_, R>) -> Result<Step, Error> {
    if !context.input.config.delivery.ipv6 {
        return Ok(Step::new(Stage::Ipv6, false, Detail::Ipv6NotWanted));
    }
    let (_, current) = context
        .probe("sysctl -n net.ipv6.conf.all.disable_ipv6 net.ipv6.conf.default.disable_ipv6")
        .await?;
    if !disabled(&current) {
        return Ok(Step::new(Stage::Ipv6, false, Detail::Ipv6On));
    }
    let settings = "net.ipv6.conf.all.disable_ipv6 = 0\nnet.ipv6.conf.default.disable_ipv6 = 0\nnet.ipv6.conf.lo.disable_ipv6 = 0\n";
    let command = format!("printf '{settings}' > {f} && sysctl -q -p {f}", f = quote(IPV6_SYSCTL));
    context.run(Stage::Ipv6, &command, b"").await?;
    Ok(Step::new(Stage::Ipv6, true, Detail::Ipv6SwitchedOn { file: IPV6_SYSCTL.into() }))
}

/// Whether `sysctl -n net.ipv6.conf.{all,default}.disable_ipv6` output says IPv6 is off.
fn disabled(sysctl: &str) -> bool {
    sysctl.lines().any(|line| line.trim() == "1")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ipv6_is_off_when_any_switch_says_so() {
        assert!(super::disabled("1\n0\n"));
        assert!(super::disabled("0\n1\n"));
        assert!(!super::disabled("0\n0\n"));
    }
}
