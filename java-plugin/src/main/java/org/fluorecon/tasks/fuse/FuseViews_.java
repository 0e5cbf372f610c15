package org.fluorecon.tasks.fuse;

import ij.ImagePlus;
import org.fluorecon.ij.FluoreconCommand;
import org.fluorecon.ij.Menu;
import org.fluorecon.ij.Params;

/**
 * Plugins › fluorecon › Multiview fusion…  Multiview Richardson–Lucy (Preibisch et al. 2014) on the
 * model server: the views are the channels of the current z-stack, on one grid; each view's PSF is
 * theoretical, along its detection axis. Output: the fused stack ({@code <title>-fused}). Macro:
 * {@code run("Multiview fusion...", "num_iter=20 na=0.8 wavelength_nm=520 ni=1.33 view_axes=z,x
 * sheet_fwhm_nm=0 background=0 align save=/path/out.tif")}.
 */
@Menu(label = "Multiview fusion...")
public class FuseViews_ extends FluoreconCommand {
    static final String TITLE = "fluorecon Multiview fusion";

    public FuseViews_() {
        super(TITLE, "Multiview fusion");
    }

    @Override
    protected void execute(ImagePlus imp) {
        FuseServerJob.Settings s = new FuseServerJob.Settings();
        Params params = new Params(TITLE, "num_iter=20 na=0.8 wavelength_nm=520 ni=1.33 view_axes=z,x");
        params.addNumber("num_iter", s.iterations);
        params.addDecimal("na", s.na, 3);
        params.addNumber("wavelength_nm", s.wavelengthNm);
        params.addDecimal("ni", s.ni, 3);
        params.addString("view_axes", s.viewAxes);
        params.addNumber("sheet_fwhm_nm", s.sheetFwhmNm);
        params.addNumber("background", s.background);
        params.addCheckbox("align", s.align);
        if (!params.show()) {
            return;
        }
        s.iterations = params.nextInt("num_iter");
        s.na = params.nextDouble("na");
        s.wavelengthNm = params.nextDouble("wavelength_nm");
        s.ni = params.nextDouble("ni");
        s.viewAxes = params.nextString("view_axes");
        s.sheetFwhmNm = params.nextDouble("sheet_fwhm_nm");
        s.background = params.nextDouble("background");
        s.align = params.nextBoolean("align");
        String save = params.option("save", null);

        FuseServerJob job = new FuseServerJob(imp, s, server());
        if (runJob(job, "sending the views to the server")) {
            done(keep(job.getResult(), save), params);
        }
    }
}
