//! iked-gen-docs OUTDIR: man pages (iked.8, ikectl.8, ikectl-SUBCOMMAND.8) and shell completions
//! (bash, zsh, fish) rendered from the clap definitions in `ike::cli`, for
//! packaging/build-deb.sh. Not installed.

use clap::CommandFactory;
use clap_complete::Shell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn write(dir: &Path, cmd: clap::Command) -> std::io::Result<()> {
    let name = cmd.get_name().to_owned();
    let man_dir = dir.join("man8");
    std::fs::create_dir_all(&man_dir)?;
    // The command's page, and one per subcommand (ikectl-status(8), ...),
    // which the command's page names.
    let mut pages = vec![(name.clone(), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let full = format!("{name}-{}", sub.get_name());
        // (clap names are &'static without its "string" feature; a one-shot tool)
        let leaked: &'static str = full.clone().leak();
        pages.push((full, sub.clone().name(leaked)));
    }
    for (file, c) in pages {
        let mut page = Vec::new();
        clap_mangen::Man::new(c)
            .section("8")
            .manual("iked")
            .render(&mut page)?;
        std::fs::write(man_dir.join(format!("{file}.8")), page)?;
    }
    for (shell, sub) in [
        (Shell::Bash, "bash"),
        (Shell::Zsh, "zsh"),
        (Shell::Fish, "fish"),
    ] {
        let d = dir.join("completions").join(sub);
        std::fs::create_dir_all(&d)?;
        let mut c = cmd.clone();
        clap_complete::generate_to(shell, &mut c, &name, &d)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: iked-gen-docs OUTDIR");
        return ExitCode::from(2);
    };
    for cmd in [
        ike::cli::IkedArgs::command(),
        ike::cli::IkectlArgs::command(),
    ] {
        if let Err(e) = write(&dir, cmd) {
            eprintln!("iked-gen-docs: {}: {e}", dir.display());
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}
